"""`budkavle users ...`: the desk's accounts, from the server's own command line."""

from __future__ import annotations

import enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from newsroom import audit, users
from newsroom.db import migrate, session_scope
from newsroom.deskmodels import Role
from newsroom.models import utcnow
from newsroom.users import UserError

app = typer.Typer(help="Desk accounts: editors and operators.", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
CLI = audit.Actor(None, audit.CLI)


class RoleChoice(enum.StrEnum):
    EDITOR = "editor"
    OPERATOR = "operator"


@app.command("add")
def add(
    login: Annotated[str, typer.Argument(help="An email address or a user name.")],
    role: Annotated[RoleChoice, typer.Option(help="editor or operator.")] = RoleChoice.EDITOR,
    name: Annotated[str, typer.Option(help="The name shown in the desk.")] = "",
    ask: Annotated[
        bool,
        typer.Option("--ask-password", help="Type the password (else one is made and shown)."),
    ] = False,
) -> None:
    """Add a desk account; prints a new password unless --ask-password."""
    migrate()
    typed = typer.prompt("Password", hide_input=True, confirmation_prompt=True) if ask else None
    try:
        with session_scope() as session:
            user, password = users.add(session, login, Role(role.value), utcnow(), name, typed)
            audit.record(session, CLI, "user.add", utcnow(), user.login, {"role": role.value})
    except UserError as exc:
        err.print(f"[red]✗[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[green]✓[/green] {user.role} {user.login} can sign in at /desk/login")
    if typed is None:
        console.print(f"  password  {password}")
        console.print("  Keep it now: it is not shown again.")


@app.command("list")
def list_users() -> None:
    """Every desk account, its role and when it last signed in."""
    migrate()
    table = Table("id", "login", "name", "role", "state", "last sign-in")
    with session_scope() as session:
        for user in users.listing(session):
            last = user.last_sign_in_at
            table.add_row(
                str(user.id), user.login, user.display_name, str(user.role),
                "disabled" if user.disabled_at else "active",
                last.strftime("%Y-%m-%d %H:%M") if last else "never",
            )  # fmt: skip
    console.print(table)


@app.command("disable")
def disable(login: Annotated[str, typer.Argument(help="The account's login.")]) -> None:
    """Disable an account: it is signed out everywhere and cannot sign in."""
    migrate()
    try:
        with session_scope() as session:
            user = users.find(session, login)
            users.disable(session, user, utcnow())
            audit.record(session, CLI, "user.disable", utcnow(), user.login)
    except UserError as exc:
        err.print(f"[red]✗[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[green]✓[/green] {login} is disabled and signed out")
