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
    "nav.articles": ("Articles", "Artiklar"),
    "nav.partners": ("Partners", "Partner"),
    "nav.subscribers": ("Subscribers", "Prenumeranter"),
    "nav.users": ("Users", "Användare"),
    "nav.audit": ("Audit log", "Händelselogg"),
    "nav.dashboard": ("Dashboard", "Driftläge"),
    "nav.editions": ("Editions", "Utskick"),
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
    "subscribers.title": ("Subscribers", "Prenumeranter"),
    "subscribers.find": ("Find subscribers", "Sök prenumeranter"),
    "subscribers.search": ("Address contains", "Adressen innehåller"),
    "subscribers.search_hint": (
        "Part of an address, or a whole domain (å ä ö allowed, e.g. bjärka-säby.se).",
        "En del av en adress, eller en hel domän (å ä ö går bra, t.ex. bjärka-säby.se).",
    ),
    "subscribers.any": ("any", "alla"),
    "subscribers.status": ("Status", "Status"),
    "subscribers.language": ("Language", "Språk"),
    "subscribers.frequency": ("Frequency", "Frekvens"),
    "subscribers.email": ("Address", "Adress"),
    "subscribers.since": ("Subscriber since", "Prenumerant sedan"),
    "subscribers.failures": ("Failures", "Misslyckanden"),
    "subscribers.none": ("No subscriber matches.", "Ingen prenumerant matchar."),
    "subscribers.pages": ("Pages", "Sidor"),
    "subscribers.first": ("First page", "Första sidan"),
    "subscribers.next": ("Next page", "Nästa sida"),
    "subscribers.export": (
        "Download these subscribers as CSV",
        "Ladda ner dessa prenumeranter som CSV",
    ),
    "subscribers.erased": (
        "Subscriber {id} is erased, with every delivery to them.",
        "Prenumerant {id} är raderad, med alla utskick till hen.",
    ),
    "subscriber_status.pending": ("pending", "obekräftad"),
    "subscriber_status.active": ("active", "aktiv"),
    "subscriber_status.unsubscribed": ("unsubscribed", "avregistrerad"),
    "subscriber_status.bounced": ("bounced", "studsad"),
    "subscriber_status.complained": ("complained", "anmälde skräppost"),
    "subscriber_status.suppressed": ("suppressed", "spärrad"),
    "frequency.immediate": ("immediately", "direkt"),
    "frequency.daily": ("daily", "dagligen"),
    "frequency.weekly": ("weekly", "veckovis"),
    "email_status.queued": ("queued", "i kö"),
    "email_status.sent": ("sent", "skickad"),
    "email_status.failed": ("failed", "misslyckad"),
    "subscriber.title": ("Subscriber {id}", "Prenumerant {id}"),
    "subscriber.stored": ("Stored as", "Sparad som"),
    "subscriber.tags": ("Topics", "Ämnen"),
    "subscriber.all_tags": ("every topic", "alla ämnen"),
    "subscriber.time_zone": ("Time zone", "Tidszon"),
    "subscriber.unsubscribed": ("Unsubscribed", "Avregistrerad"),
    "subscriber.consent": ("Proof of consent", "Bevis på samtycke"),
    "subscriber.consent_at": ("Asked for it", "Anmälde sig"),
    "subscriber.consent_ip": ("From address", "Från adress"),
    "subscriber.no_ip": ("not recorded (imported)", "inte sparad (importerad)"),
    "subscriber.consent_form": ("Form and text agreed to", "Formulär och text"),
    "subscriber.confirmed_at": ("Confirmed by email", "Bekräftade via e-post"),
    "subscriber.not_confirmed": ("not confirmed", "inte bekräftad"),
    "subscriber.returned": ("Bounces and complaints", "Studsar och klagomål"),
    "subscriber.suppressed_since": ("Suppressed since", "Spärrad sedan"),
    "subscriber.returned_hint": (
        "Failures count permanent failures and bounces since the reader last confirmed or "
        "saved preferences; a complaint suppresses at once. Failed emails below say why.",
        "Misslyckanden räknar permanenta fel och studsar sedan läsaren senast bekräftade eller "
        "sparade inställningar; ett klagomål spärrar direkt. Misslyckade utskick nedan säger "
        "varför.",
    ),
    "subscriber.actions": ("Actions", "Åtgärder"),
    "subscriber.suppress": ("Suppress", "Spärra"),
    "subscriber.suppress_hint": (
        "No more email goes to this address, also none queued; the form cannot reopen it.",
        "Ingen mer e-post går till adressen, inte heller sådan i kö; formuläret kan inte "
        "öppna den igen.",
    ),
    "subscriber.unsuppress": ("Lift the suppression", "Häv spärren"),
    "subscriber.unsuppress_hint": (
        "Active again if they once confirmed, else waiting for their confirmation; digests "
        "start with what is published from now on.",
        "Aktiv igen om hen en gång bekräftade, annars väntar den på bekräftelse; utskicken "
        "börjar med det som publiceras från och med nu.",
    ),
    "subscriber.erase": ("Erase this subscriber…", "Radera prenumeranten…"),
    "subscriber.emails": ("Digests, newest first", "Utskick, nyaste först"),
    "subscriber.edition": ("Edition", "Utgåva"),
    "subscriber.sent_at": ("Sent", "Skickad"),
    "subscriber.no_emails": (
        "No digest has gone to them yet.",
        "Inget utskick har gått till hen ännu.",
    ),
    "subscriber.back": ("All subscribers", "Alla prenumeranter"),
    "subscriber.done_suppress": (
        "Suppressed: no more email goes out.",
        "Spärrad: ingen mer e-post går ut.",
    ),
    "subscriber.done_unsuppress": ("The suppression is lifted.", "Spärren är hävd."),
    "erase.title": ("Erase subscriber {id}", "Radera prenumerant {id}"),
    "erase.warning": (
        "Erasing forgets the address, the proof of consent and every delivery to it (GDPR "
        "art. 17). It cannot be undone; the audit log keeps only the id.",
        "Radering glömmer adressen, beviset på samtycke och alla utskick till den "
        "(GDPR art. 17). Det går inte att ångra; händelseloggen behåller bara id-numret.",
    ),
    "erase.type": ("Type the address to erase: {email}", "Skriv adressen som ska raderas: {email}"),
    "erase.wrong": (
        "That is not this subscriber's address. Nothing was erased.",
        "Det är inte prenumerantens adress. Inget raderades.",
    ),
    "erase.submit": ("Erase for good", "Radera för gott"),
    "erase.cancel": ("Keep the subscriber", "Behåll prenumeranten"),
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
    "dash.title": ("Dashboard", "Driftläge"),
    "dash.intro": (
        "What the service did, counted from its own records; never about one reader. "
        "Times in {zone}; read at {now}.",
        "Vad tjänsten har gjort, räknat ur dess egna register; aldrig om en enskild läsare. "
        "Tider i {zone}; läst {now}.",
    ),
    "dash.no_data": ("No data yet.", "Inga uppgifter ännu."),
    "dash.numbers": ("The numbers", "Siffrorna"),
    "dash.queues.title": ("Waiting now", "Väntar just nu"),
    "dash.queues.note": (
        "Work the service has taken on and not yet done.",
        "Arbete som tjänsten har tagit emot men inte gjort ännu.",
    ),
    "dash.queues.empty": ("Nothing waits.", "Inget väntar."),
    "dash.queue": ("Queue", "Kö"),
    "dash.waiting": ("Waiting", "Väntar"),
    "dash.queue.outbox": ("Publishes not yet passed on", "Publiceringar som inte förts vidare"),
    "dash.queue.emails": ("Emails queued", "E-brev i kö"),
    "dash.queue.partners": ("Partner deliveries due", "Partnerleveranser att skicka"),
    "dash.emails.title": (
        "Digest emails per hour, last 48 hours",
        "Nyhetsbrev per timme, senaste 48 timmarna",
    ),
    "dash.emails.note": (
        "Sent: accepted by the mail server. Failed: refused for good.",
        "Skickade: tagna av e-postservern. Misslyckade: avvisade för gott.",
    ),
    "dash.latency.title": (
        "From publish to the feed, seconds, per hour, last 48 hours",
        "Från publicering till flödet, sekunder, per timme, senaste 48 timmarna",
    ),
    "dash.latency.note": (
        "How long a change waited before the main feed carried it: half waited at most "
        "p50, all but one in a hundred at most p99.",
        "Hur länge en ändring väntade innan huvudflödet hade den: hälften väntade högst "
        "p50, alla utom en på hundra högst p99.",
    ),
    "dash.rates.title": (
        "Bounces and complaints per email sent, per day, last 30 days",
        "Studsar och klagomål per skickat e-brev, per dag, senaste 30 dagarna",
    ),
    "dash.rates.note": (
        "Hard bounces and spam complaints received that day, divided by the emails sent "
        "that day.",
        "Hårda studsar och spamklagomål som kom in den dagen, delat med e-breven som "
        "skickades den dagen.",
    ),
    "dash.partners.title": (
        "Failed partner deliveries per hour, last 48 hours",
        "Misslyckade partnerleveranser per timme, senaste 48 timmarna",
    ),
    "dash.partners.note": (
        "Push attempts that got no answer or not a 2xx; they are tried again.",
        "Försök som inte fick något svar eller inte 2xx; de görs om.",
    ),
    "dash.hour": ("Hour", "Timme"),
    "dash.day": ("Day", "Dag"),
    "dash.sent": ("Sent", "Skickade"),
    "dash.failed": ("Failed", "Misslyckade"),
    "dash.events": ("Changes", "Ändringar"),
    "dash.p50": ("p50 (s)", "p50 (s)"),
    "dash.p99": ("p99 (s)", "p99 (s)"),
    "dash.bounces": ("Bounces", "Studsar"),
    "dash.bounce_rate": ("Bounce rate", "Andel studsar"),
    "dash.complaints": ("Complaints", "Klagomål"),
    "dash.complaint_rate": ("Complaint rate", "Andel klagomål"),
    "dash.attempts": ("Attempts", "Försök"),
    "editions.title": ("Editions", "Utskick"),
    "editions.intro": (
        "The next edition for each language and frequency, exactly as it will be sent.",
        "Nästa utskick för varje språk och frekvens, precis som det kommer att skickas.",
    ),
    "editions.all": ("All next editions", "Alla nästa utskick"),
    "editions.language": ("Language", "Språk"),
    "editions.frequency": ("Frequency", "Frekvens"),
    "editions.subscribers": ("Subscribers", "Prenumeranter"),
    "editions.new": ("New articles", "Nya artiklar"),
    "editions.show": ("Show", "Visa"),
    "editions.show_label": ("Show: {tongue}, {frequency}", "Visa: {tongue}, {frequency}"),
    "editions.showing": ("shown below", "visas nedan"),
    "editions.next": (
        "Next edition: {tongue}, {frequency}",
        "Nästa utskick: {tongue}, {frequency}",
    ),
    "editions.subject": ("Subject", "Ämnesrad"),
    "editions.preheader": ("Preheader", "Förhandstext"),
    "editions.count": ("Articles", "Artiklar"),
    "editions.nothing": (
        "Nothing new for these subscribers: no email would go.",
        "Inget nytt för de här prenumeranterna: inget mejl skulle skickas.",
    ),
    "editions.html": ("HTML part", "HTML-delen"),
    "editions.frame": ("The HTML part of the next edition", "HTML-delen av nästa utskick"),
    "editions.text": ("Text part", "Textdelen"),
    "editions.test": ("Send a test", "Skicka ett test"),
    "editions.test_hint": (
        "It goes to this address only, with [Test] before the subject. Its unsubscribe link "
        "works for nobody, and no subscriber, delivery or count changes.",
        "Det går bara till den här adressen, med [Test] före ämnesraden. Länken för att avsluta "
        "prenumerationen fungerar inte för någon, och ingen prenumerant, leverans eller "
        "räknare ändras.",
    ),
    "editions.test_email": ("Email address", "E-postadress"),
    "editions.test_submit": ("Send test", "Skicka test"),
    "editions.test_queued": (
        "The test is on its way; its status is in the list below.",
        "Testet är på väg; hur det gick står i listan nedan.",
    ),
    "editions.tests": ("Test sends, newest first", "Testutskick, nyaste först"),
    "editions.tests_none": ("No test sends yet.", "Inga testutskick ännu."),
    "editions.test_to": ("To", "Till"),
    "editions.test_edition": ("Edition", "Utskick"),
    "editions.test_at": ("Asked", "Beställt"),
    "editions.test_status": ("Status", "Status"),
    "editions.test_result": ("Subject or error", "Ämnesrad eller fel"),
    "editions.refresh": ("Update the status", "Uppdatera status"),
    "test.queued": ("queued", "i kö"),
    "test.sent": ("sent", "skickat"),
    "test.failed": ("failed", "misslyckades"),
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
    "error.search": (
        "Search: one line of at most 254 characters.",
        "Sökning: en rad med högst 254 tecken.",
    ),
    "error.filter": (
        "That filter is not one the list offers. Choose from the menus.",
        "Det filtret finns inte i listan. Välj i menyerna.",
    ),
    "error.edition_choice": (
        "There is no such edition: choose a language and frequency from the list.",
        "Det finns inget sådant utskick: välj språk och frekvens i listan.",
    ),
    "error.test_email": (
        "Email address: write one address, such as namn@example.se.",
        "E-postadress: skriv en adress, till exempel namn@example.se.",
    ),
    "error.test_limited": (
        "Too many test sends. Try again in {seconds} seconds. Nothing was sent.",
        "För många testutskick. Försök igen om {seconds} sekunder. Inget skickades.",
    ),
    "error.test_nothing": (
        "Nothing new for this edition, so there is nothing to test. Nothing was sent.",
        "Inget nytt i det här utskicket, så det finns inget att testa. Inget skickades.",
    ),
    "articles.title": ("Articles", "Artiklar"),
    "articles.new": ("Write an article", "Skriv en artikel"),
    "articles.search": ("Find articles", "Hitta artiklar"),
    "articles.query": ("Title or slug", "Rubrik eller slug"),
    "articles.status": ("Status", "Status"),
    "articles.language": ("Language", "Språk"),
    "articles.any": ("Any", "Alla"),
    "articles.find": ("Search", "Sök"),
    "articles.none": ("No articles match.", "Inga artiklar matchar."),
    "articles.headline": ("Title", "Rubrik"),
    "articles.when": ("Published or planned", "Publicerad eller planerad"),
    "articles.updated": ("Changed", "Ändrad"),
    "articles.version": ("Version", "Version"),
    "articles.older": ("Older articles", "Äldre artiklar"),
    "articles.newest": ("Newest articles", "Nyaste artiklarna"),
    "articles.pages": ("More articles", "Fler artiklar"),
    "article.status.draft": ("draft", "utkast"),
    "article.status.scheduled": ("scheduled", "schemalagd"),
    "article.status.published": ("published", "publicerad"),
    "article.status.retracted": ("retracted", "indragen"),
    "article.new_title": ("New article", "Ny artikel"),
    "article.edit_title": ("Edit: {title}", "Redigera: {title}"),
    "article.facts": ("About this article", "Om artikeln"),
    "article.address": ("Address", "Adress"),
    "article.field.title": ("Title", "Rubrik"),
    "article.field.language": ("Language", "Språk"),
    "article.field.summary": ("Summary", "Ingress"),
    "article.field.body": ("Text (Markdown)", "Brödtext (Markdown)"),
    "article.field.tags": ("Tags, separated by commas", "Taggar, åtskilda med kommatecken"),
    "article.field.authors": (
        "Authors, separated by commas",
        "Skribenter, åtskilda med kommatecken",
    ),
    "article.field.image": ("Image", "Bild"),
    "article.field.image_url": ("Image URL", "Bildens adress (URL)"),
    "article.field.image_alt": ("Alt text (what the image shows)", "Alt-text (vad bilden visar)"),
    "article.field.image_caption": ("Caption", "Bildtext"),
    "article.field.canonical_url": ("Canonical URL", "Kanonisk adress (URL)"),
    "article.field.published_at": ("Publication time", "Publiceringstid"),
    "article.field.lead": ("Lead story in digests", "Huvudnyhet i nyhetsbreven"),
    "article.field.keep_out_of_email": ("Keep out of email", "Håll utanför e-post"),
    "article.email": ("Email", "E-post"),
    "article.hint.summary": (
        "Shown in emails and feeds. Empty: the first paragraph, cut at 280 characters.",
        "Visas i e-post och flöden. Tom: första stycket, kapat vid 280 tecken.",
    ),
    "article.hint.body": (
        "Markdown: a blank line between paragraphs, ## for a subheading, *italics*.",
        "Markdown: en tom rad mellan styckena, ## för en mellanrubrik, *kursiv*.",
    ),
    "article.hint.canonical_url": (
        "Only if the article's own page is elsewhere (the newsroom's site).",
        "Bara om artikelns egen sida finns någon annanstans (redaktionens webbplats).",
    ),
    "article.hint.published_at": (
        "In {zone} time. Schedule publishes the article at this time; Publish now, at once.",
        "I tidszonen {zone}. Schemalägg publicerar artikeln vid den här tiden; Publicera "
        "nu, genast.",
    ),
    "article.preview": ("Preview", "Förhandsgranska"),
    "article.preview_title": (
        "Preview: the text as feeds and emails will carry it",
        "Förhandsvisning: texten så som flöden och e-post visar den",
    ),
    "article.preview_note": (
        "Nothing is saved until you press a save or publish button.",
        "Inget sparas förrän du trycker på en knapp för att spara eller publicera.",
    ),
    "article.draft": ("Save draft", "Spara utkast"),
    "article.publish": ("Publish now", "Publicera nu"),
    "article.schedule": ("Schedule", "Schemalägg"),
    "article.update": ("Update", "Uppdatera"),
    "article.retract": ("Retract…", "Dra in…"),
    "article.retracted_note": (
        "This article was retracted {at} and can no longer be changed.",
        "Artikeln drogs in {at} och kan inte längre ändras.",
    ),
    "article.view": ("Open the public page", "Öppna den publika sidan"),
    "article.back": ("All articles", "Alla artiklar"),
    "articles.done.created": ("The draft is saved.", "Utkastet är sparat."),
    "articles.done.saved": ("The draft is saved.", "Utkastet är sparat."),
    "articles.done.published": (
        "Published. Feeds, partners and digests follow on their own.",
        "Publicerad. Flöden, partner och nyhetsbrev följer efter av sig själva.",
    ),
    "articles.done.scheduled": (
        "Scheduled: it is published at the time given.",
        "Schemalagd: den publiceras vid den angivna tiden.",
    ),
    "articles.done.updated": (
        "Updated. Feeds and partners get the new version.",
        "Uppdaterad. Flöden och partner får den nya versionen.",
    ),
    "articles.done.retracted": (
        "Retracted. It leaves the feeds, and partners are told.",
        "Indragen. Den försvinner ur flödena, och partner får veta det.",
    ),
    "retract.title": ("Retract: {title}", "Dra in: {title}"),
    "retract.explain": (
        "A retracted article leaves every feed and the site, partners are told, and it "
        "cannot be published again. This cannot be undone.",
        "En indragen artikel försvinner ur alla flöden och från webbplatsen, partner får "
        "veta det, och den kan inte publiceras igen. Det går inte att ångra.",
    ),
    "retract.confirm": ("Yes, retract the article", "Ja, dra in artikeln"),
    "retract.cancel": ("No, back to the article", "Nej, tillbaka till artikeln"),
    "language.sv": ("Swedish", "svenska"),
    "language.fi": ("Finnish", "finska"),
    "language.nb": ("Norwegian Bokmål", "norska (bokmål)"),
    "language.nn": ("Norwegian Nynorsk", "norska (nynorska)"),
    "language.no": ("Norwegian", "norska"),
    "language.da": ("Danish", "danska"),
    "language.is": ("Icelandic", "isländska"),
    "language.en": ("English", "engelska"),
    "language.se": ("Northern Sami", "nordsamiska"),
    "error.article_fields": (
        "Some fields are not right; see the messages beside them. Nothing was saved.",
        "Några fält är fel; se meddelandena vid dem. Inget sparades.",
    ),
    "error.article_changed": (
        "Someone saved this article after you opened it. Your text is still here; press "
        "again to replace their version, or open the article anew to see it.",
        "Någon sparade artikeln efter att du öppnade den. Din text finns kvar; tryck igen "
        "för att ersätta deras version, eller öppna artikeln på nytt för att se den.",
    ),
    "error.article_retracted": (
        "This article is retracted and cannot be changed. Nothing was saved.",
        "Artikeln är indragen och kan inte ändras. Inget sparades.",
    ),
    "error.form_kind": (
        "The form must be sent as a plain web form. Nothing was changed.",
        "Formuläret måste skickas som ett vanligt webbformulär. Inget ändrades.",
    ),
    "error.encoding": (
        "The form was not sent as UTF-8 text. Nothing was changed.",
        "Formuläret skickades inte som UTF-8-text. Inget ändrades.",
    ),
    "error.article.title": (
        "Title: one line, not empty, at most 300 characters.",
        "Rubrik: en rad, inte tom, högst 300 tecken.",
    ),
    "error.article.language": (
        "Language: choose one of the languages in the list.",
        "Språk: välj ett av språken i listan.",
    ),
    "error.article.summary": (
        "Summary: at most 2000 characters.",
        "Ingress: högst 2000 tecken.",
    ),
    "error.article.body": (
        "Text: write something (text or an image), at most 1 MiB.",
        "Brödtext: skriv något (text eller en bild), högst 1 MiB.",
    ),
    "error.article.tags": (
        "Tags: at most 20, each at most 60 characters with letters or digits.",
        "Taggar: högst 20, var och en högst 60 tecken med bokstäver eller siffror.",
    ),
    "error.article.authors": (
        "Authors: at most 20 names, each at most 120 characters.",
        "Skribenter: högst 20 namn, vart och ett högst 120 tecken.",
    ),
    "error.article.image_url": (
        "Image URL: an address beginning with https:// or http://, without spaces. An "
        "image with alt text or a caption needs one.",
        "Bildens adress: en adress som börjar med https:// eller http://, utan mellanslag. "
        "En bild med alt-text eller bildtext behöver en.",
    ),
    "error.article.image_alt": (
        "Alt text: one line of at most 300 characters.",
        "Alt-text: en rad med högst 300 tecken.",
    ),
    "error.article.image_caption": (
        "Caption: one line of at most 500 characters.",
        "Bildtext: en rad med högst 500 tecken.",
    ),
    "error.article.canonical_url": (
        "Canonical URL: an address beginning with https:// or http://, without spaces.",
        "Kanonisk adress: en adress som börjar med https:// eller http://, utan mellanslag.",
    ),
    "error.article.schedule_time": (
        "Publication time: to schedule, give a time in the future.",
        "Publiceringstid: ange en tid i framtiden för att schemalägga.",
    ),
    "error.article.published_at": (
        "Publication time: a date and time between 1970 and 2100, e.g. 2026-12-24T07:00.",
        "Publiceringstid: datum och tid mellan 1970 och 2100, t.ex. 2026-12-24T07:00.",
    ),
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
