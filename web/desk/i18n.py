"""The desk's words in Swedish and English, and which of them a reader gets.

A small catalogue in code rather than gettext: the desk has a few dozen strings, read by
staff, and a missing key must fail a test rather than show a msgid. Each entry is
(English, Swedish); placeholders are str.format fields.
"""

from __future__ import annotations

LANGUAGES = ("sv", "en")  # in the order the language menu shows them
LANGUAGE_NAMES = {"sv": "Svenska", "en": "English"}

_WORDS: dict[str, tuple[str, str]] = {
    "desk": ("Desk", "Redaktionen"),
    "skip": ("Skip to content", "Hoppa till innehållet"),
    "nav.label": ("Desk", "Redaktionens meny"),
    "nav.home": ("Overview", "Översikt"),
    "nav.partners": ("Partners", "Partner"),
    "nav.users": ("Users", "Användare"),
    "nav.audit": ("Audit log", "Händelselogg"),
    "signed_in_as": ("Signed in as {name} ({role})", "Inloggad som {name} ({role})"),
    "role.editor": ("editor", "redaktör"),
    "role.operator": ("operator", "driftansvarig"),
    "sign_out": ("Sign out", "Logga ut"),
    "login.title": ("Sign in to the desk", "Logga in på redaktionen"),
    "login.login": ("Email or user name", "E-post eller användarnamn"),
    "login.password": ("Password", "Lösenord"),
    "login.submit": ("Sign in", "Logga in"),
    "login.wrong": (
        "That email or user name and password do not match an active account.",
        "E-postadressen eller användarnamnet och lösenordet hör inte till ett aktivt konto.",
    ),
    "login.limited": (
        "Too many sign-in attempts. Try again in {seconds} seconds.",
        "För många inloggningsförsök. Försök igen om {seconds} sekunder.",
    ),
    "login.signed_out": ("You are signed out.", "Du är utloggad."),
    "home.title": ("Overview", "Översikt"),
    "home.attention": ("Needs attention", "Behöver åtgärdas"),
    "home.all_well": ("Nothing needs attention.", "Inget behöver åtgärdas."),
    "home.partner_disabled": (
        "{name} is disabled: {reason}",
        "{name} är avstängd: {reason}",
    ),
    "home.partner_failing": (
        "{name} has failed {count} times in a row since {since}.",
        "{name} har misslyckats {count} gånger i rad sedan {since}.",
    ),
    "home.partner_failed": (
        "Deliveries to {name} that gave up: {count}",
        "Leveranser till {name} som gav upp: {count}",
    ),
    "home.outbox_lag": (
        "The oldest unhandled publish waits {seconds} seconds.",
        "Den äldsta obehandlade publiceringen har väntat i {seconds} sekunder.",
    ),
    "home.outbox_ok": (
        "Publishing flows: nothing waits long.",
        "Publiceringen flyter: inget väntar länge.",
    ),
    "home.language": ("Desk language", "Redaktionens språk"),
    "home.language_browser": ("As my browser", "Som min webbläsare"),
    "home.language_save": ("Save language", "Spara språk"),
    "partners.title": ("Partners", "Partner"),
    "partners.none": ("No partners yet.", "Inga partner ännu."),
    "partners.name": ("Partner", "Partner"),
    "partners.state": ("State", "Läge"),
    "partners.last_success": ("Last success", "Senast lyckad"),
    "partners.in_a_row": ("Failures in a row", "Misslyckanden i rad"),
    "partners.next": ("Next attempt", "Nästa försök"),
    "partners.waiting": ("Waiting", "Väntar"),
    "partners.gave_up": ("Gave up", "Gav upp"),
    "state.active": ("active", "aktiv"),
    "state.disabled": ("disabled", "avstängd"),
    "state.failing": ("failing", "felar"),
    "never": ("never", "aldrig"),
    "partner.title": ("Partner: {name}", "Partner: {name}"),
    "partner.webhook": ("Webhook", "Webhook"),
    "partner.pull_only": ("pull only", "bara hämtning"),
    "partner.filters": ("Filters", "Filter"),
    "partner.all": ("everything", "allt"),
    "partner.disabled_why": ("Disabled since {at}: {reason}", "Avstängd sedan {at}: {reason}"),
    "partner.enable": ("Enable and send what waited", "Slå på och skicka det som väntat"),
    "partner.signing": ("Signing secret", "Signeringsnyckel"),
    "partner.overlap": (
        "A rotation is under way: pushes carry the new and the previous secret's signatures "
        "until {at}.",
        "Ett nyckelbyte pågår: utskicken bär både den nya och den förra nyckelns signatur "
        "till {at}.",
    ),
    "partner.rotate_hint": (
        "A new secret is made and shown once. The current one keeps signing beside it for "
        "{hours} hours, so the partner can switch without missing a push. Rotating again "
        "meanwhile stops the oldest secret at once. The pull key stays as it is.",
        "En ny nyckel skapas och visas en gång. Den nuvarande fortsätter att signera bredvid "
        "den i {hours} timmar, så att partnern hinner byta utan att missa ett utskick. Ett nytt "
        "byte under tiden stoppar den äldsta nyckeln direkt. Hämtnyckeln ändras inte.",
    ),
    "partner.rotate_confirm": (
        "I will give the partner the new secret",
        "Jag lämnar den nya nyckeln till partnern",
    ),
    "partner.rotate": ("Rotate the signing secret", "Byt signeringsnyckel"),
    "secret.title": ("New signing secret: {name}", "Ny signeringsnyckel: {name}"),
    "secret.once": (
        "Copy the secret now and give it to the partner: it is not shown again.",
        "Kopiera nyckeln nu och lämna den till partnern: den visas inte igen.",
    ),
    "secret.new": ("New secret", "Ny nyckel"),
    "secret.previous": ("Previous secret", "Förra nyckeln"),
    "secret.overlap_until": ("signs too until {at}", "signerar också till {at}"),
    "secret.no_overlap": ("no longer signs", "signerar inte längre"),
    "secret.both": (
        "Until then every push carries two signatures in webhook-signature, one per secret; "
        "a partner verifying with either accepts it (Standard Webhooks).",
        "Fram till dess bär varje utskick två signaturer i webhook-signature, en per nyckel; "
        "en partner som kontrollerar med någon av dem godtar det (Standard Webhooks).",
    ),
    "secret.back": ("Back to {name}", "Tillbaka till {name}"),
    "partner.log": ("Deliveries, newest first", "Leveranser, nyaste först"),
    "partner.no_log": ("No deliveries yet.", "Inga leveranser ännu."),
    "delivery.id": ("Delivery", "Leverans"),
    "delivery.status": ("Status", "Status"),
    "delivery.attempts": ("Attempts", "Försök"),
    "delivery.answer": ("Last answer", "Senaste svar"),
    "delivery.replay": ("Send again", "Skicka igen"),
    # The visible words first: a spoken "Skicka igen" finds the button (WCAG 2.5.3).
    "delivery.replay_label": ("Send again: delivery {id}", "Skicka igen: leverans {id}"),
    "status.pending": ("pending", "väntar"),
    "status.delivered": ("delivered", "levererad"),
    "status.failed": ("failed", "misslyckad"),
    "done.replayed": (
        "Delivery {id} will be sent again, with the same webhook-id.",
        "Leverans {id} skickas igen, med samma webhook-id.",
    ),
    "done.enabled": (
        "{name} is enabled; {count} waiting deliveries go out now.",
        "{name} är påslagen; {count} väntande leveranser skickas nu.",
    ),
    "users.title": ("Users", "Användare"),
    "users.login": ("Login", "Inloggning"),
    "users.name": ("Name", "Namn"),
    "users.role": ("Role", "Roll"),
    "users.state": ("State", "Läge"),
    "users.last": ("Last sign-in", "Senaste inloggning"),
    "users.actions": ("Actions", "Åtgärder"),
    "users.add": ("Add a user", "Lägg till en användare"),
    "users.add_submit": ("Add user", "Lägg till"),
    "users.password_hint": (
        "A password is made for the new user and shown once.",
        "Ett lösenord skapas åt den nya användaren och visas en gång.",
    ),
    "users.change_role": ("Change role", "Byt roll"),
    "users.role_of": ("Role of {login}", "Roll för {login}"),
    "users.disable": ("Disable", "Stäng av"),
    "users.disable_label": ("Disable {login}", "Stäng av {login}"),
    "users.added": (
        "{login} was added. Their password, shown this once: {password}",
        "{login} lades till. Lösenordet, som bara visas nu: {password}",
    ),
    "users.disabled": ("{login} is disabled and signed out.", "{login} är avstängd och utloggad."),
    "users.role_changed": ("{login} is now {role}.", "{login} är nu {role}."),
    "audit.title": ("Audit log", "Händelselogg"),
    "audit.at": ("When", "När"),
    "audit.actor": ("Who", "Vem"),
    "audit.action": ("What", "Vad"),
    "audit.target": ("On", "På"),
    "audit.details": ("Details", "Detaljer"),
    "audit.address": ("From", "Från"),
    "audit.none": ("Nothing logged yet.", "Inget loggat ännu."),
    "audit.older": ("Older entries", "Äldre händelser"),
    "audit.newest": ("Newest entries", "Nyaste händelserna"),
    "error.title": ("Something went wrong", "Något gick fel"),
    "error.400": ("The form could not be used as sent.", "Formuläret gick inte att använda."),
    "error.401": ("Sign in first.", "Logga in först."),
    "error.403": (
        "You may not do that with your role.",
        "Det får du inte göra med din roll.",
    ),
    "error.csrf": (
        "The form was too old or not from this desk. Nothing was changed; reload and try again.",
        "Formuläret var för gammalt eller kom inte från redaktionen. Inget ändrades; ladda om "
        "sidan och försök igen.",
    ),
    "error.404": ("There is no such page or row.", "Sidan eller raden finns inte."),
    "error.409": (
        "That cannot be done now. Nothing was changed.",
        "Det går inte just nu. Inget ändrades.",
    ),
    "error.410": (
        "That delivery is older than the history kept and cannot be sent again.",
        "Leveransen är äldre än den sparade historiken och kan inte skickas igen.",
    ),
    "error.422": ("A field is not right. Nothing was changed.", "Ett fält är fel. Inget ändrades."),
    "error.last_operator": (
        "The last active operator must stay an active operator.",
        "Den sista aktiva driftansvariga måste vara kvar som driftansvarig.",
    ),
    "error.user_exists": ("A user with that login exists.", "Det finns redan en sådan användare."),
    "error.login": (
        "Login: one word, an email address or a user name, at most 254 characters.",
        "Inloggning: ett ord, en e-postadress eller ett användarnamn, högst 254 tecken.",
    ),
    "error.display_name": (
        "Name: one line of at most 200 characters.",
        "Namn: en rad med högst 200 tecken.",
    ),
    "error.confirm": (
        "Tick the box first: the partner needs the new secret. Nothing was changed.",
        "Kryssa i rutan först: partnern behöver den nya nyckeln. Inget ändrades.",
    ),
    "error.role": ("Choose editor or operator.", "Välj redaktör eller driftansvarig."),
    "error.back": ("Back to the overview", "Tillbaka till översikten"),
}


def best(*wanted: str | None, accept: str | None = None) -> str:
    """The first of ``wanted`` the desk speaks, then the browser's Accept-Language
    (RFC 9110 §12.5.4) in order of quality; English if none."""
    for code in (*wanted, *_accepted(accept or "")):
        primary = (code or "").strip().lower().replace("_", "-").split("-")[0]
        if primary in LANGUAGES:
            return primary
    return "en"


def _accepted(header: str) -> list[str]:
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def translate(language: str, key: str, **values: object) -> str:
    english, swedish = _WORDS[key]  # a KeyError is a bug a test finds
    text = swedish if language == "sv" else english
    return text.format(**values) if values else text


def keys() -> list[str]:
    return list(_WORDS)
