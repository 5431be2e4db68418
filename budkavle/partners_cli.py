"""`budkavle partners ...`: register partner municipalities and look after their deliveries."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from budkavle.tables import Column, JsonOption, Record, print_json, show, when
from newsroom import audit, partners
from newsroom.db import migrate, session_scope
from newsroom.models import DeliveryStatus, Partner, PartnerState, utcnow
from newsroom.partners import PartnerError, PartnerIn
from newsroom.retention import EventGone

app = typer.Typer(help="Partner municipalities: pushes, pull keys, delivery logs.",
                  no_args_is_help=True)  # fmt: skip
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help='e.g. "Borlänge kommun"')],
    webhook: Annotated[str | None, typer.Option(help="https URL that receives pushes.")] = None,
    tags: Annotated[str, typer.Option(help="Comma-separated tags; none: all.")] = "",
    languages: Annotated[str, typer.Option(help="Comma-separated codes; none: all.")] = "",
) -> None:
    """Register a partner; prints its signing secret and pull key, this one time."""
    migrate()
    try:
        data = PartnerIn(name=name, webhook_url=webhook, tags=_split(tags),
                         languages=_split(languages))  # fmt: skip
        with session_scope() as session:
            partner, secret, pull_key = partners.register(session, data)
            partner_id = partner.id
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            err.print(f"[red]✗[/red] {field}: {str(error['msg']).removeprefix('Value error, ')}")
        raise typer.Exit(1) from None
    except PartnerError as exc:
        err.print(f"[red]✗[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"[green]✓[/green] partner {partner_id}: {name}")
    console.print(f"  signing secret  {secret}")
    console.print(f"  pull key        {pull_key}")
    console.print("  Keep both now: they are not shown again.")


@app.command("list")
def list_partners(
    state: Annotated[PartnerState | None, typer.Option(help="Only this state.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every partner, its state, since when it fails, its filters and its webhook."""
    migrate()
    with session_scope() as session:
        records = [_record(partner) for partner in partners.listing(session, state=state)]
    if as_json:
        print_json(records)
    else:
        show(records, LIST_LAYOUTS)


def _record(partner: Partner) -> dict[str, Any]:
    """One partner as `budkavle partners list --json` gives it (never a secret or key)."""
    return {
        "id": partner.id,
        "name": partner.name,
        "state": str(partner.state),
        "disabled_reason": partner.disabled_reason,
        "disabled_at": partner.disabled_at,
        "failing_since": partner.failing_since,
        "tags": list(partner.tags),
        "languages": list(partner.languages),
        "webhook_url": partner.webhook_url,
        "pull": partner.pull_key_hash is not None,
        "created_at": partner.created_at,
    }


def _state(record: Record) -> str:
    reason = record["disabled_reason"]
    return f"{record['state']}: {reason}" if reason else str(record["state"])


def _health(record: Record) -> str:
    """State, why disabled and since when failing, in one cell for narrow terminals."""
    failing = record["failing_since"]
    return _state(record) + (f"; failing since {when(failing)}" if failing else "")


def _filters(record: Record) -> str:
    """Languages and tags in one cell, "sv, fi / borlange" ("all" where there is none)."""
    return " / ".join(", ".join(record[field]) or "all" for field in ("languages", "tags"))


ID = Column("id", lambda p: str(p["id"]), right=True)
NAME = Column("name", lambda p: p["name"], fold=True, least=34)
STATE = Column("state", _state, fold=True, least=20)
HEALTH = Column("state", _health, fold=True, least=20)
FAILING = Column("failing since", lambda p: when(p["failing_since"]))
TAGS = Column("tags", lambda p: ", ".join(p["tags"]) or "all", fold=True)
LANGUAGES = Column("languages", lambda p: ", ".join(p["languages"]) or "all", fold=True)
FILTERS = Column("lang / tags", _filters, fold=True)
WEBHOOK = Column("webhook", lambda p: p["webhook_url"] or "–", fold=True, least=30)
# Widest first: the terminal's width picks the first that fits.
LIST_LAYOUTS = (
    (ID, NAME, STATE, FAILING, TAGS, LANGUAGES, WEBHOOK),
    (ID, NAME, STATE, FAILING, FILTERS, WEBHOOK),
    (ID, NAME, STATE, FAILING, FILTERS),
    (ID, NAME, HEALTH, FILTERS),
    (ID, NAME, HEALTH),
)


@app.command("log")
def delivery_log(
    name: Annotated[str, typer.Argument(help="Partner name or id.")],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """A partner's deliveries: attempts, status codes, the next retry."""
    migrate()
    table = Table("delivery", "event", "status", "attempts", "last answer", "next attempt")
    with session_scope() as session:
        partner = _find(session, name)
        for delivery, attempts in partners.log(session, partner, limit):
            answer = delivery.last_error or (str(delivery.last_status or "") or "–")
            pending = delivery.status == DeliveryStatus.PENDING
            upcoming = f"{delivery.next_attempt_at:%Y-%m-%d %H:%M:%S}" if pending else ""
            table.add_row(
                str(delivery.id), str(delivery.event_id), str(delivery.status),
                str(len(attempts)), answer, upcoming,
            )  # fmt: skip
        title = f"{partner.name} — {partner.state}"
    console.print(title)
    console.print(table)


@app.command("replay")
def replay(delivery_id: Annotated[int, typer.Argument(help="Delivery id (see log).")]) -> None:
    """Send a delivery again, with the same webhook-id."""
    from worker.bell import ring_pushes

    migrate()
    try:
        with session_scope() as session:
            partners.replay(session, delivery_id, utcnow())
    except (PartnerError, EventGone) as exc:
        err.print(f"[red]✗[/red] {exc}")
        raise typer.Exit(1) from None
    ring_pushes([delivery_id])
    console.print(f"[green]✓[/green] delivery {delivery_id} queued again")


@app.command("enable")
def enable(name: Annotated[str, typer.Argument(help="Partner name or id.")]) -> None:
    """Re-enable a disabled partner; what waited goes out in order."""
    from worker.bell import ring_pushes

    migrate()
    with session_scope() as session:
        partner = _find(session, name)
        waiting = partners.enable(session, partner)
    ring_pushes(waiting)
    console.print(f"[green]✓[/green] {name} enabled; {len(waiting)} waiting deliveries go out now")


@app.command("rotate-secret")
def rotate_secret(name: Annotated[str, typer.Argument(help="Partner name or id.")]) -> None:
    """A new signing secret, printed this once; the old one keeps signing beside it for
    BUDKAVLE_PARTNER_SECRET_OVERLAP_HOURS. The pull key stays as it is."""
    migrate()
    with session_scope() as session:
        partner = _find(session, name)
        rotated = partners.rotate_secret(session, partner, utcnow(), audit.Actor(None, audit.CLI))
        label = f"partner {partner.id}: {partner.name}"
    console.print(f"[green]✓[/green] {label}: new signing secret")
    console.print(f"  signing secret  {rotated.secret}")
    if rotated.overlap_ends is None:
        console.print("  The previous secret no longer signs (no overlap is configured).")
    else:
        console.print(f"  The previous secret also signs until {when(rotated.overlap_ends)} UTC: "
                      "pushes carry both signatures until then.")  # fmt: skip
    console.print("  Keep it now: it is not shown again.")


def _find(session: Session, name: str) -> Partner:
    try:
        return partners.find(session, name)
    except PartnerError as exc:
        err.print(f"[red]✗[/red] {exc}")
        raise typer.Exit(1) from None
