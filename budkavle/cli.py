"""The `budkavle` command: run the service, publish, load the demo, look after feeds."""

from __future__ import annotations

import enum
import os
import shlex
import sys
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress

from budkavle import datadir
from budkavle.articles_cli import articles_command
from budkavle.bounces_cli import bounces_command
from budkavle.digest_cli import app as digest_app
from budkavle.markdown_files import FileError, read_article
from budkavle.partners_cli import app as partners_app
from budkavle.subscribers_cli import app as subscribers_app
from budkavle.users_cli import app as users_app
from config import SettingsError, get_settings
from newsroom import articles
from newsroom.db import migrate, session_scope
from newsroom.models import utcnow

app = typer.Typer(
    help="Budkavle: publish once; feeds, digests and partners follow.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
feeds_app = typer.Typer(help="Feed documents.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(partners_app, name="partners")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(users_app, name="users")
app.command("bounces")(bounces_command)
app.command("articles")(articles_command)
app.add_typer(digest_app, name="digest")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole, to copy


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


# The commands that may create a database; every other one works on an existing one.
CREATES_DATABASE = frozenset({"serve", "migrate"})


@app.callback()
def _settings_first(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="The data folder to work on (BUDKAVLE_DATA_DIR; default ./var); "
            "created with its database if new.",
            file_okay=False,
        ),
    ] = None,
    init: Annotated[
        bool, typer.Option("--init", help="Create a new, empty database if none is found.")
    ] = False,
) -> None:
    if "--help" in sys.argv[1:]:
        return  # `budkavle demo --help` helps even while a setting is wrong
    if data_dir is not None:
        os.environ["BUDKAVLE_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()
    try:
        settings = get_settings()
    except SettingsError as exc:
        err.print(f"[red]Configuration error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if ctx.invoked_subcommand in CREATES_DATABASE or init or data_dir is not None:
        return
    typed = sys.argv[1:] if Path(sys.argv[0]).name == "budkavle" else []
    command = shlex.join(typed) if typed else str(ctx.invoked_subcommand)
    problem = datadir.missing_database(settings, command)
    if problem is not None:
        err.print(problem, highlight=False, markup=False)
        raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.", min=1, max=65535)] = 8000,
    concurrency: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 2,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(help="Log lines as text or JSON (default: BUDKAVLE_LOG_FORMAT, text)."),
    ] = None,
) -> None:
    """Run web + worker + beat together (embedded SQLite and Redis when nothing is set)."""
    from budkavle import serve as serving  # imports Celery and uvicorn: only when serving

    if log_format is not None:  # the children read it from their environment
        os.environ["BUDKAVLE_LOG_FORMAT"] = log_format.value
        get_settings.cache_clear()

    def announce(env: dict[str, str], first: tuple[str, str] | None) -> None:
        url = env["BUDKAVLE_PUBLIC_URL"]
        console.print(Panel.fit(
            f"[bold]{get_settings().site_name}[/bold] is starting\n\n"
            f"Site         {url}/\n"
            f"Feeds        {url}/feeds/all.atom  (.rss, .json)\n"
            f"API docs     {url}/docs\n"
            f"Admin token  {env['BUDKAVLE_ADMIN_TOKEN']}\n"
            f"Desk         {url}/desk\n"
            f"{_first_operator(first)}"
            f"Database     {env['BUDKAVLE_DATABASE_URL']}\n"
            f"Redis        {env['BUDKAVLE_REDIS_URL']}\n\n"
            "Publish with  budkavle demo   or   budkavle publish article.md\n"
            "Stop with     Ctrl-C",
            title="budkavle serve",
        ))  # fmt: skip

    try:
        code = serving.run(host, port, concurrency, announce)
    except serving.AlreadyServing as exc:
        err.print(f"[red]Not started:[/red] {exc}")
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def _first_operator(first: tuple[str, str] | None) -> str:
    """The desk's first account, made on a fresh data folder; its password shown this once."""
    if first is None:
        return ""
    login, password = first
    return (
        f"  sign in as {login}\n"
        f"  password   {password}\n"
        "  (shown this once: keep it; more with  budkavle users add)\n"
    )


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (serve does this on its own)."""
    migrate()
    console.print("The database is up to date.")


@app.command()
def publish(
    files: Annotated[list[Path], typer.Argument(help="Markdown files with YAML front matter.")],
) -> None:
    """Publish articles from Markdown files; a file whose slug exists updates that article."""
    raise typer.Exit(1 if _publish(files) else 0)


@app.command()
def demo() -> None:
    """Load the demo articles (Swedish, Finnish, English...); running it again adds nothing."""
    folder = Path(str(resources.files("budkavle") / "demo" / "articles"))
    failed = _publish(sorted(folder.glob("*.md")))
    console.print(f"Feeds: {get_settings().public_url}/feeds/all.atom  (.rss, .json)")
    raise typer.Exit(1 if failed else 0)


REBUILD_BATCH = 50  # feeds per transaction of `feeds rebuild`


@feeds_app.command("rebuild")
def feeds_rebuild() -> None:
    """Rebuild every feed from the database (after changing the site name or public URL)."""
    from feeds.refresh import all_keys, refresh
    from feeds.store import CHANGES_CHANNEL
    from worker.bell import announce_feeds

    settings = get_settings()
    migrate()
    with session_scope() as session:
        keys = all_keys(session)
    changed: list[str] = []
    # A transaction per batch of feeds, not per feed: with thousands of tags, the commits
    # (a WAL flush each on PostgreSQL) cost more than the feeds. A batch is small enough
    # that SQLite's write lock, held for the whole of it, is let go within a second.
    batches = [keys[n : n + REBUILD_BATCH] for n in range(0, len(keys), REBUILD_BATCH)]
    with Progress(console=console) as progress:
        task = progress.add_task("Rebuilding feeds", total=len(keys))
        for batch in batches:
            with session_scope() as session:
                for key in batch:
                    changed += list(refresh(session, key, settings))
                    progress.advance(task)
    announce_feeds(CHANGES_CHANNEL, changed)
    console.print(f"{len(keys)} feeds checked, {len(changed)} documents changed.")


def _publish(files: list[Path]) -> int:
    """Publish each file in its own transaction; ring the bell after each commit."""
    from worker.bell import ring_events  # imports Celery: only when there is work

    migrate()
    grace = timedelta(seconds=get_settings().outbox_grace_seconds)
    failed = 0
    for path in files:
        try:
            data = read_article(path)
            with session_scope() as session:
                article, event = articles.create_or_update(session, data, utcnow(), grace)
                summary = f"{article.slug}  {article.status}  v{article.version}"
                event_id = event.id if event else None
        except (FileError, articles.ArticleError) as exc:
            err.print(f"[red]✗[/red] {exc}")
            failed += 1
            continue
        if event_id is not None:
            ring_events([event_id])
        note = "" if event_id is not None else "  (nothing new)"
        console.print(f"[green]✓[/green] {path.name}: {summary}{note}")
    return failed
