"""The desk: every route for every role, CSRF, sign-in limits, escaping, errors in the
reader's language, and nothing half-done when an action is refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from config import get_settings
from newsroom import users
from newsroom.db import session_scope
from newsroom.deskmodels import AuditEntry, DeskSession, DeskUser, Role
from newsroom.models import Article, DeliveryStatus, PartnerState, SubscriberStatus
from tests.deskdata import delivery_status, failing_partner, partner_state, subscriber
from tests.desksupport import PASSWORD, Desk, add_user
from tests.mailsupport import publish
from tests.support import ADMIN, Server


@dataclass(frozen=True)
class Case:
    """Expected answers for (anonymous, editor, operator)."""

    method: str
    route: str  # as registered
    path: str  # with ids filled in by the fixture's names
    expected: tuple[int, int, int]
    data: dict[str, str] = field(default_factory=dict)


# Every route of the desk. A route added without a row here fails
# test_every_desk_route_has_a_row. GET pages redirect an anonymous visitor to the sign-in
# (303); a POST without a session is 401; an editor gets 403 on an operator's page.
CASES = [
    Case("GET", "/desk/login", "/desk/login", (200, 303, 303)),
    Case("POST", "/desk/login", "/desk/login", (403, 403, 403)),  # no sign-in token
    Case("POST", "/desk/logout", "/desk/logout", (401, 303, 303)),
    Case("GET", "/desk", "/desk", (303, 200, 200)),
    Case("GET", "/desk/", "/desk/", (303, 303, 303)),
    Case("POST", "/desk/account/language", "/desk/account/language", (401, 303, 303),
         {"language": "sv"}),
    Case("GET", "/desk/articles", "/desk/articles", (303, 200, 200)),
    Case("GET", "/desk/articles/new", "/desk/articles/new", (303, 200, 200)),
    Case("POST", "/desk/articles", "/desk/articles", (401, 303, 303),
         {"action": "draft", "title": "Vårbudget för Dalarna", "language": "sv",
          "body": "Regionen lägger fram sin budget."}),
    Case("GET", "/desk/articles/{article_id}", "/desk/articles/{article}", (303, 200, 200)),
    Case("POST", "/desk/articles/{article_id}", "/desk/articles/{article}", (401, 200, 200),
         {"action": "preview", "title": "Förhandsvisning", "language": "sv", "body": "Text."}),
    Case("GET", "/desk/articles/{article_id}/retract", "/desk/articles/{article}/retract",
         (303, 200, 200)),
    Case("POST", "/desk/articles/{article_id}/retract", "/desk/articles/{article}/retract",
         (401, 303, 303)),
    Case("GET", "/desk/editions", "/desk/editions", (303, 200, 200)),
    Case("GET", "/desk/editions/{language}/preview.html",
         "/desk/editions/sv/preview.html?frequency=daily", (303, 200, 200)),
    Case("POST", "/desk/editions/test", "/desk/editions/test", (401, 303, 303),
         {"email": "prov@example.org", "language": "sv", "frequency": "daily"}),
    Case("GET", "/desk/partners", "/desk/partners", (303, 403, 200)),
    Case("GET", "/desk/partners/{partner_id}", "/desk/partners/{partner}", (303, 403, 200)),
    Case("POST", "/desk/partners/{partner_id}/enable", "/desk/partners/{partner}/enable",
         (401, 403, 303)),
    Case("POST", "/desk/partners/{partner_id}/rotate-secret",
         "/desk/partners/{partner}/rotate-secret", (401, 403, 200), {"confirm": "yes"}),
    Case("POST", "/desk/deliveries/{delivery_id}/replay", "/desk/deliveries/{delivery}/replay",
         (401, 403, 303)),
    Case("GET", "/desk/subscribers", "/desk/subscribers", (303, 403, 200)),
    Case("GET", "/desk/subscribers/export.csv", "/desk/subscribers/export.csv",
         (303, 403, 200)),
    Case("GET", "/desk/subscribers/{subscriber_id}", "/desk/subscribers/{subscriber}",
         (303, 403, 200)),
    Case("POST", "/desk/subscribers/{subscriber_id}/suppress",
         "/desk/subscribers/{subscriber}/suppress", (401, 403, 303)),
    Case("POST", "/desk/subscribers/{subscriber_id}/unsuppress",
         "/desk/subscribers/{bounced}/unsuppress", (401, 403, 303)),
    Case("GET", "/desk/subscribers/{subscriber_id}/erase",
         "/desk/subscribers/{subscriber}/erase", (303, 403, 200)),
    Case("POST", "/desk/subscribers/{subscriber_id}/erase", "/desk/subscribers/{leaving}/erase",
         (401, 403, 303), {"confirm": "lamnar@example.se"}),
    Case("GET", "/desk/users", "/desk/users", (303, 403, 200)),
    Case("POST", "/desk/users", "/desk/users", (401, 403, 201),
         {"login": "ny@example.se", "role": "editor", "display_name": "Ny Redaktör"}),
    Case("POST", "/desk/users/{user_id}/disable", "/desk/users/{spare}/disable",
         (401, 403, 303)),
    Case("POST", "/desk/users/{user_id}/role", "/desk/users/{spare}/role", (401, 403, 303),
         {"role": "operator"}),
    Case("GET", "/desk/audit", "/desk/audit", (303, 403, 200)),
    Case("GET", "/desk/dashboard", "/desk/dashboard", (303, 403, 200)),
    Case("GET", "/desk/{rest:path}", "/desk/finns-inte", (303, 404, 404)),
]  # fmt: skip


def desk_routes() -> set[tuple[str, str]]:
    """What web.desk.install() adds to the app: its routers' routes."""
    from web import desk

    found: set[tuple[str, str]] = set()
    for router in desk.ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            found |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return found


def test_every_desk_route_has_a_row() -> None:
    table = {(case.method, case.route) for case in CASES}
    assert desk_routes() == table, "add the new desk route to CASES with its answer per role"


@dataclass
class World:
    ids: dict[str, int]
    editor: Desk
    operator: Desk
    anonymous: Desk


@pytest.fixture
def world(server: Server) -> Iterator[World]:
    add_user("redaktor@example.se", Role.EDITOR, "Erik Redaktör")
    add_user("chef@example.se", Role.OPERATOR, "Åsa Lindqvist")
    spare = add_user("vikarie@example.se", Role.EDITOR, "Vera Vikarie")
    partner, delivery = failing_partner(disabled=True)
    publish(title="Borlänge bygger ny bro över Dalälven")  # the next edition's news
    editor, operator = Desk(server), Desk(server)
    assert editor.sign_in("redaktor@example.se").status_code == 303
    assert operator.sign_in("chef@example.se").status_code == 303
    with session_scope() as session:
        # failing_partner's article, the first one made
        article = session.scalars(select(Article.id).order_by(Article.id)).first()
    ids = {"partner": partner, "delivery": delivery, "spare": spare, "article": article,
           "subscriber": subscriber("lena@bjarka-saby.example"),
           "bounced": subscriber("studs@example.se", SubscriberStatus.BOUNCED, failures=3),
           "leaving": subscriber("lamnar@example.se")}  # fmt: skip
    yield World(ids, editor, operator, Desk(server))


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.method} {case.route}")
def test_each_route_answers_each_role(world: World, case: Case) -> None:
    path = case.path.format(**world.ids)
    for who, expected in zip(("anonymous", "editor", "operator"), case.expected, strict=True):
        desk: Desk = getattr(world, who)
        if case.method == "GET":
            answer = desk.get(path)
        else:
            answer = desk.post(path, case.data, csrf=case.route != "/desk/login")
        assert answer.status_code == expected, f"{who}: {answer.text[:300]}"
        if expected == 303 and who == "anonymous" and case.route != "/desk/":
            assert answer.headers["location"].startswith("/desk/login?next=")


def test_a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(
    world: World, server: Server
) -> None:
    partner = world.ids["partner"]
    operator = world.operator
    path = f"/desk/partners/{partner}/enable"
    other = Desk(server)
    other.sign_in("chef@example.se")  # the same user's other session: another token
    for token in ("", "fel", other.csrf + "x", world.editor.csrf):
        answer = operator.post(path, {"csrf": token})
        assert answer.status_code == 403
        assert "not from this desk" in answer.text
    assert operator.post(path, csrf=False).status_code == 403
    assert partner_state(partner) is PartnerState.DISABLED
    assert "partner.enable" not in audit_actions()
    assert operator.post(path).status_code == 303, "the right token works"
    assert partner_state(partner) is PartnerState.ACTIVE


def test_the_sign_in_form_needs_its_own_token(server: Server) -> None:
    add_user("chef@example.se", Role.OPERATOR)
    desk = Desk(server)
    desk.get("/desk/login")
    desk.cookies.pop("budkavle_desk_login")
    answer = desk.post("/desk/login", {"login": "chef@example.se", "password": PASSWORD})
    assert answer.status_code == 403
    assert "budkavle_desk" not in desk.cookies


def audit_actions() -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_session_cookie_is_signed_httponly_strict_and_secure(server: Server) -> None:
    add_user("chef@example.se", Role.OPERATOR)
    desk = Desk(server)
    answer = desk.sign_in("chef@example.se")
    cookie = next(line for line in answer.headers.get_list("set-cookie")
                  if line.startswith("budkavle_desk="))  # fmt: skip
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "secure", "path=/desk"} <= attributes
    # The stored key is a hash: the cookie's value appears nowhere in the database.
    value = desk.cookies["budkavle_desk"]
    with session_scope() as session:
        stored = session.scalars(select(DeskSession.key_hash)).all()
    assert len(stored) == 1 and value not in stored[0]
    # A forged or altered cookie signs nobody in.
    desk.cookies["budkavle_desk"] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert desk.get("/desk").status_code == 303


def test_signing_out_or_being_disabled_ends_the_session(world: World, server: Server) -> None:
    kept = dict(world.editor.cookies)
    assert world.editor.post("/desk/logout").status_code == 303
    world.editor.cookies.update(kept)  # a copy of the old cookie
    assert world.editor.get("/desk").status_code == 303
    vikarie = Desk(server)
    vikarie.sign_in("vikarie@example.se")
    assert vikarie.get("/desk").status_code == 200
    assert world.operator.post(f"/desk/users/{world.ids['spare']}/disable").status_code == 303
    assert vikarie.get("/desk").status_code == 303
    assert vikarie.sign_in("vikarie@example.se").status_code == 401
    assert audit_actions()[-4:] == ["sign_out", "sign_in", "user.disable", "sign_in.failed"]


def test_sign_in_is_rate_limited_per_address_and_per_account(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    monkeypatch.setenv("BUDKAVLE_DESK_LOGIN_RATE_PER_MINUTE", "1")
    monkeypatch.setenv("BUDKAVLE_DESK_LOGIN_BURST", "3")
    monkeypatch.setenv("BUDKAVLE_TRUSTED_PROXIES", "127.0.0.1")
    get_settings.cache_clear()
    add_user("chef@example.se", Role.OPERATOR)
    add_user("redaktor@example.se", Role.EDITOR)
    try:
        with Server.running(create_app()) as server:
            desk = Desk(server)
            desk.get("/desk/login")
            tries = [
                desk.post("/desk/login", {"login": "chef@example.se", "password": "fel"},
                          headers={"x-forwarded-for": f"198.51.100.{n}"}).status_code
                for n in range(4)
            ]  # fmt: skip
            # Four addresses, one account: the account's bucket runs dry all the same.
            assert tries == [401, 401, 401, 429]
            right = desk.post("/desk/login", {"login": "chef@example.se", "password": PASSWORD},
                              headers={"x-forwarded-for": "198.51.100.9"})  # fmt: skip
            assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
            assert "Too many sign-in attempts" in right.text
            assert "budkavle_desk" not in desk.cookies
            # One address, many accounts: the address's bucket runs dry.
            same = {"x-forwarded-for": "203.0.113.7"}
            answers = [
                desk.post("/desk/login", {"login": f"gissning{n}", "password": "fel"},
                          headers=same).status_code
                for n in range(3)
            ]  # fmt: skip
            assert answers == [401, 401, 401]
            last = desk.post("/desk/login", {"login": "redaktor@example.se",
                                             "password": PASSWORD}, headers=same)  # fmt: skip
            assert last.status_code == 429
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_failed_sign_in_says_so_in_the_readers_language_and_is_logged(server: Server) -> None:
    add_user("chef@example.se", Role.OPERATOR)
    desk = Desk(server, "sv-SE,sv;q=0.9,en;q=0.5")
    answer = desk.sign_in("chef@example.se", "fel lösenord")
    assert answer.status_code == 401
    assert '<html lang="sv">' in answer.text
    assert "hör inte till ett aktivt konto" in answer.text
    assert desk.sign_in("ingen@example.se").status_code == 401
    with session_scope() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.target, e.actor_id) for e in entries] == [
        ("sign_in.failed", "chef@example.se", None),
        ("sign_in.failed", "ingen@example.se", None),
    ]


def test_hostile_names_are_shown_as_text(server: Server) -> None:
    hostile = "<script>alert(1)</script>"
    partner, _ = failing_partner(name=hostile)
    add_user("chef@example.se", Role.OPERATOR, name='"><img src=x onerror=alert(2)>')
    desk = Desk(server)
    desk.sign_in("<b>inte</b>", "x" * 20)  # lands in the audit log as typed
    desk.sign_in("chef@example.se")
    for path in ("/desk", "/desk/partners", f"/desk/partners/{partner}", "/desk/users",
                 "/desk/audit"):  # fmt: skip
        text = desk.get(path).text
        assert "<script>alert(1)" not in text and "<img src=x" not in text, path
        assert "<b>inte</b>" not in text, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in desk.get("/desk/partners").text
    assert "&lt;b&gt;inte&lt;/b&gt;" in desk.get("/desk/audit").text


@pytest.mark.parametrize(
    ("language", "words"),
    [("sv", "Det får du inte göra med din roll."), ("en", "You may not do that with your role.")],
)
def test_an_editor_is_refused_operator_pages_in_their_language(
    world: World, language: str, words: str
) -> None:
    world.editor.language = language
    answer = world.editor.get("/desk/users")
    assert answer.status_code == 403
    assert f'<html lang="{language}">' in answer.text and words in answer.text


def test_the_account_language_wins_over_the_browser(world: World) -> None:
    world.operator.language = "en"
    assert world.operator.post("/desk/account/language", {"language": "sv"}).status_code == 303
    assert '<html lang="sv">' in world.operator.get("/desk").text
    assert world.operator.post("/desk/account/language", {"language": "xx"}).status_code == 422
    assert world.operator.post("/desk/account/language", {"language": ""}).status_code == 303
    assert '<html lang="en">' in world.operator.get("/desk").text


def test_refused_actions_change_nothing_and_log_nothing(world: World) -> None:
    operator = world.operator
    before = audit_actions()
    with session_scope() as session:
        me = users.find(session, "chef@example.se").id
    # The last operator cannot demote or disable themselves.
    answer = operator.post(f"/desk/users/{me}/role", {"role": "editor"})
    assert answer.status_code == 409 and "last active operator" in answer.text
    assert operator.post(f"/desk/users/{me}/disable").status_code == 409
    # Unknown rows and malformed ids are 404 pages, never a 500 or the API's JSON.
    for path in ("/desk/deliveries/999999/replay", "/desk/partners/999999/enable",
                 "/desk/users/999999/disable", "/desk/users/abc/disable",
                 "/desk/deliveries/1e9/replay", "/desk/partners/%F0%9F%92%A5/enable"):  # fmt: skip
        answer = operator.post(path)
        assert answer.status_code == 404 and "text/html" in answer.headers["content-type"], path
    assert operator.post("/desk/users", {"login": "två ord", "role": "editor"}).status_code == 422
    assert operator.post("/desk/users", {"login": "a@b.se", "role": "kung"}).status_code == 422
    taken = operator.post("/desk/users", {"login": "REDAKTOR@example.se", "role": "editor"})
    assert taken.status_code == 409 and "exists" in taken.text
    with session_scope() as session:
        me_now = session.get(DeskUser, me)
        assert me_now is not None and me_now.role is Role.OPERATOR and me_now.disabled_at is None
        assert len(session.scalars(select(DeskUser.id)).all()) == 3
    assert audit_actions() == before


def test_an_operator_replays_and_enables_with_the_audit_log_telling(world: World) -> None:
    operator = world.operator
    partner, delivery = world.ids["partner"], world.ids["delivery"]
    page = operator.get(f"/desk/partners/{partner}").text
    assert "Borlänge kommun" in page and "HTTP 503" in page and "failing for three days" in page
    answer = operator.post(f"/desk/deliveries/{delivery}/replay")
    assert answer.headers["location"] == f"/desk/partners/{partner}?replayed={delivery}"
    assert delivery_status(delivery) is DeliveryStatus.PENDING
    assert operator.post(f"/desk/partners/{partner}/enable").status_code == 303
    assert partner_state(partner) is PartnerState.ACTIVE
    with session_scope() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).all()[:2]
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("partner.enable", "chef@example.se", "Borlänge kommun"),
        ("partner.replay", "chef@example.se", "Borlänge kommun"),
    ]
    assert entries[1].details["delivery"] == delivery
    log = operator.get("/desk/audit").text
    assert "partner.replay" in log and "partner.enable" in log


def test_the_audit_log_pages_by_id(world: World) -> None:
    for _ in range(3):
        world.operator.post("/desk/account/language", {"language": "en"})
    from newsroom import audit

    with session_scope() as session:
        first, older = audit.page(session, None, 2)
        second, _ = audit.page(session, older, 2)
    assert older is not None and all(e.id < older for e in second)
    assert not {e.id for e in first} & {e.id for e in second}
    answer = world.operator.get(f"/desk/audit?before={older}")
    assert answer.status_code == 200
    assert world.operator.get("/desk/audit?before=zzz").status_code == 200


def test_sign_in_goes_back_only_into_the_desk(server: Server) -> None:
    add_user("chef@example.se", Role.OPERATOR)
    for target, landing in [("/desk/audit", "/desk/audit"), ("//evil.example/", "/desk"),
                            ("https://evil.example/", "/desk"), ("/desk\\@evil", "/desk"),
                            ("/desk/login", "/desk")]:  # fmt: skip
        answer = Desk(server).sign_in("chef@example.se", next_path=target)
        assert answer.headers["location"] == landing, target


def test_the_admin_token_still_works_for_the_api(world: World, server: Server) -> None:
    answer = server.client.get("/api/partners", headers=ADMIN)
    assert answer.status_code == 200 and answer.json()[0]["name"] == "Borlänge kommun"
    # and a desk cookie is no API credential
    assert world.operator.get("/api/partners").status_code == 401
