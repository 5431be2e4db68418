"""Desk accounts: Argon2id hashes, sign-in checks, the last operator, `budkavle users`."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from budkavle.cli import app
from budkavle.serve import first_operator
from newsroom import users
from newsroom.db import session_scope
from newsroom.deskmodels import AuditEntry, DeskUser, Role
from newsroom.models import utcnow

runner = CliRunner()


def add(login: str, role: Role = Role.EDITOR, password: str = "hemligt-lösenord") -> int:
    with session_scope() as session:
        user, _ = users.add(session, login, role, utcnow(), "Åsa Lindqvist", password)
        return user.id


def signs_in(login: str, password: str) -> bool:
    with session_scope() as session:
        return users.authenticate(session, login, password) is not None


def test_a_password_is_kept_as_an_argon2id_hash_and_checked(db: str) -> None:
    add("Åsa.Lindqvist@Example.se")
    with session_scope() as session:
        stored = session.scalar(select(DeskUser.password_hash))
    assert stored is not None and stored.startswith("$argon2id$")
    assert "hemligt" not in stored
    assert signs_in("åsa.lindqvist@example.se", "hemligt-lösenord")
    assert signs_in("  ÅSA.LINDQVIST@EXAMPLE.SE ", "hemligt-lösenord"), "login is case-blind"
    assert not signs_in("åsa.lindqvist@example.se", "hemligt-lösenorD")
    assert not signs_in("nobody@example.se", "hemligt-lösenord")
    assert not signs_in("", "")


def test_an_unknown_login_costs_what_a_wrong_password_does(db: str) -> None:
    add("redaktor")

    def timed(login: str) -> float:
        start = time.perf_counter()
        signs_in(login, "fel lösenord")
        return time.perf_counter() - start

    known = min(timed("redaktor") for _ in range(3))
    unknown = min(timed("ingen-alls") for _ in range(3))
    # Both run one Argon2 verification (tens of ms); a skipped one would take microseconds.
    assert unknown > known / 3


def test_a_disabled_user_cannot_sign_in(db: str) -> None:
    add("chef", Role.OPERATOR)
    add("redaktor")
    with session_scope() as session:
        users.disable(session, users.find(session, "redaktor"), utcnow())
    assert not signs_in("redaktor", "hemligt-lösenord")


@pytest.mark.parametrize(
    ("login", "field"),
    [("", "login"), ("två ord", "login"), ("<script>", "login"), ("x" * 255, "login")],
)
def test_bad_logins_are_refused_by_field(db: str, login: str, field: str) -> None:
    with pytest.raises(users.UserError) as caught:
        add(login)
    assert caught.value.field == field


def test_a_short_password_is_refused(db: str) -> None:
    with pytest.raises(users.UserError, match="password"):
        add("redaktor", password="kort")


def test_the_last_operator_stays(db: str) -> None:
    add("chef", Role.OPERATOR)
    with session_scope() as session, pytest.raises(users.LastOperator):
        users.disable(session, users.find(session, "chef"), utcnow())
    with session_scope() as session, pytest.raises(users.LastOperator):
        users.set_role(session, users.find(session, "chef"), Role.EDITOR)
    add("biträdande", Role.OPERATOR)
    with session_scope() as session:
        users.set_role(session, users.find(session, "chef"), Role.EDITOR)
    with session_scope() as session:
        assert users.find(session, "chef").role is Role.EDITOR


def test_serve_makes_one_first_operator_on_a_fresh_desk(db: str) -> None:
    made = first_operator()
    assert made is not None
    login, password = made
    assert signs_in(login, password)
    assert first_operator() is None, "only on a desk with no users"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(DeskUser)) == 1
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.actor, entry.action, entry.target) == ("cli", "user.add", login)


def test_users_add_list_disable_from_the_command_line(db: str) -> None:
    made = runner.invoke(app, ["users", "add", "Åsa@Example.se", "--role", "operator"])
    assert made.exit_code == 0, made.output
    password = made.output.split("password")[1].split()[0]
    assert signs_in("åsa@example.se", password)
    assert runner.invoke(app, ["users", "add", "redaktor@example.se"]).exit_code == 0
    again = runner.invoke(app, ["users", "add", "ÅSA@example.se"])
    assert again.exit_code == 1 and "exists" in again.output
    listed = runner.invoke(app, ["users", "list"])
    assert "åsa@example.se" in listed.output and "editor" in listed.output
    gone = runner.invoke(app, ["users", "disable", "redaktor@example.se"])
    assert gone.exit_code == 0, gone.output
    assert "disabled" in runner.invoke(app, ["users", "list"]).output
    last = runner.invoke(app, ["users", "disable", "åsa@example.se"])
    assert last.exit_code == 1 and "last active operator" in last.output
    with session_scope() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["user.add", "user.add", "user.disable"]
