"""Articles for editors and operators: the list, the editor, preview, save, publish,
schedule, update and retract.

Saving calls the same newsroom functions as the admin API (web/articles.py) with the same
ArticleIn, and rings the same bell after the commit; the desk adds the audit entry to the
transaction. Every button is a plain POST form, so all of it works with JavaScript off.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from config import get_settings
from feeds.query import article_url
from newsroom import articlelist, articles, audit
from newsroom.db import read_scope, session_scope
from newsroom.errors import DomainError
from newsroom.models import Article, ArticleStatus, utcnow
from newsroom.sanitize import markdown_to_html
from newsroom.schemas import MAX_BODY_BYTES, ArticleIn
from web.desk import articleform, i18n
from web.desk import session as desk
from web.desk.articleform import Typed
from web.desk.partners import refused, row_id
from web.desk.render import DeskProblem, page, see
from web.ratelimit import client_key
from worker.bell import ring_events

router = APIRouter(prefix="/desk", include_in_schema=False)
SignedIn = Annotated[desk.Viewer, Depends(desk.signed_in)]
STATUSES = [status.value for status in ArticleStatus]
# Which buttons an article's status offers; a POST of any other is refused.
ACTIONS: dict[ArticleStatus | None, tuple[str, ...]] = {
    None: ("preview", "draft", "publish", "schedule"),
    ArticleStatus.DRAFT: ("preview", "draft", "publish", "schedule"),
    ArticleStatus.SCHEDULED: ("preview", "draft", "publish", "schedule"),
    ArticleStatus.PUBLISHED: ("preview", "update"),
    ArticleStatus.RETRACTED: (),
}
DONE = ("created", "saved", "published", "scheduled", "updated", "retracted")


async def posted_article(request: Request) -> desk.Posted:
    """A signed-in user's article form: sign-in first (401), then UTF-8, then CSRF."""
    viewer = desk.current_viewer(request)
    if viewer is None:
        raise desk.NeedsSignIn()
    return desk.checked(viewer, await articleform.read_utf8_form(request))


Posted = Annotated[desk.Posted, Depends(posted_article)]


def _grace() -> timedelta:
    return timedelta(seconds=get_settings().outbox_grace_seconds)


def _languages(language: str) -> list[tuple[str, str]]:
    known = set(i18n.keys())
    return [
        (code, i18n.translate(language, f"language.{code}") if f"language.{code}" in known
         else code)
        for code in get_settings().language_codes
    ]  # fmt: skip


# The list -------------------------------------------------------------------------------


@router.get("/articles")
def article_list(
    request: Request, viewer: SignedIn, q: str = "", status: str = "", language: str = "",
    before: str = "",
) -> Response:  # fmt: skip
    filters = articlelist.Filters(
        query=q[: articlelist.MAX_QUERY],
        status=ArticleStatus(status) if status in STATUSES else None,
        language=language if language in get_settings().language_codes else None,
    )
    start = int(before) if before.isascii() and before.isdigit() and len(before) < 18 else None
    with read_scope() as session:
        rows, older = articlelist.page(session, filters, start)
        shown = [_row(article) for article in rows]
    query = {"q": filters.query, "status": status if filters.status else "",
             "language": filters.language or ""}  # fmt: skip
    return page(request, "articles.html", viewer, rows=shown, older=older, paged=start is not None,
                filters=query, statuses=STATUSES,
                languages=_languages(viewer.language))  # fmt: skip


def _row(article: Article) -> dict[str, Any]:
    return {"id": article.id, "title": article.title, "slug": article.slug,
            "status": article.status.value, "language": article.language,
            "published_at": article.published_at, "updated_at": article.updated_at,
            "version": article.version}  # fmt: skip


# The editor -----------------------------------------------------------------------------


def _facts(article: Article) -> dict[str, Any]:
    return {
        "id": article.id, "slug": article.slug, "status": article.status,
        "version": article.version, "url": article_url(article, get_settings()),
        "published_at": article.published_at, "retracted_at": article.retracted_at,
        "title": article.title,
    }  # fmt: skip


def _editor(
    request: Request,
    viewer: desk.Viewer,
    facts: dict[str, Any] | None,
    typed: Typed,
    status: int = 200,
    **values: object,
) -> Response:
    with read_scope() as session:
        tags = articlelist.tag_labels(session)
    state = facts["status"] if facts else None
    version = values.pop("version", facts["version"] if facts else None)
    return page(
        request, "article.html", viewer, status, article=facts, typed=articleform.echo(typed),
        actions=ACTIONS[state],
        languages=_languages(viewer.language), tags=tags, version=version,
        zone=get_settings().time_zone,
        **{"errors": {}, "preview": None, "notice": None, "problem": None, **values},
    )  # fmt: skip


def _load(session: Session, article_id: str) -> Article:
    article = session.get(Article, row_id(article_id))
    if article is None:
        raise DeskProblem(404, "error.404")
    return article


@router.get("/articles/new")
def new_article(request: Request, viewer: SignedIn) -> Response:
    typed = Typed({"language": get_settings().default_language}, {})
    return _editor(request, viewer, None, typed)


@router.get("/articles/{article_id}")
def edit_article(request: Request, viewer: SignedIn, article_id: str, done: str = "") -> Response:
    with read_scope() as session:
        article = _load(session, article_id)
        facts, typed = _facts(article), articleform.from_article(article)
    notice = f"articles.done.{done}" if done in DONE else None
    return _editor(request, viewer, facts, typed, notice=notice)


@router.post("/articles")
def create_article(request: Request, posted: Posted) -> Response:
    return _take(request, posted, None)


@router.post("/articles/{article_id}")
def save_article(request: Request, posted: Posted, article_id: str) -> Response:
    with read_scope() as session:
        facts = _facts(_load(session, article_id))
    return _take(request, posted, facts)


def _take(request: Request, posted: desk.Posted, facts: dict[str, Any] | None) -> Response:
    """One press of one of the editor's buttons."""
    viewer = posted.viewer
    typed = articleform.from_form(posted.form)
    action = posted.field("action", 20)
    state = facts["status"] if facts else None
    if state is ArticleStatus.RETRACTED:
        raise DeskProblem(409, "error.article_retracted")
    if action not in ACTIONS[state]:
        raise DeskProblem(400, "error.400")
    now = utcnow()
    when = _when(action, typed, facts, now)
    data = articleform.payload(typed, "draft" if action == "draft" else "published", when)
    checked, errors = articleform.check(data)
    if (
        action == "schedule"
        and checked is not None
        and not (checked.published_at and checked.published_at > now)
    ):
        checked, errors = None, {"published_at": "error.article.schedule_time"}
    if action == "preview":
        return _editor(request, viewer, facts, typed, errors=errors,
                       preview=_preview(typed.get("body"), errors))  # fmt: skip
    if checked is None:
        return _editor(request, viewer, facts, typed, 422, errors=errors,
                       problem="error.article_fields")  # fmt: skip
    version = posted.field("version", 20)
    try:
        saved = _save(request, viewer, facts, checked, version)
    except Changed as exc:
        # Someone saved it since this form was opened: keep what was typed, say so, and let
        # a second press replace their version knowingly.
        return _editor(request, viewer, facts, typed, 409, version=exc.now,
                       problem="error.article_changed")  # fmt: skip
    return see(f"/desk/articles/{saved[0]}?done={saved[1]}")


def _when(action: str, typed: Typed, facts: dict[str, Any] | None, now: datetime) -> str | None:
    """The publication time to send, for the button pressed."""
    given = typed.get("published_at")
    if action == "publish":
        # At once, whatever a draft or a schedule held; a time already past is kept, as the
        # API keeps it (an article published earlier elsewhere).
        future = articleform.scheduling(typed, now)
        return now.isoformat() if future or not given.strip() else given
    published = facts is not None and facts["status"] is ArticleStatus.PUBLISHED
    if published and facts and articleform.same_minute(given, facts["published_at"]):
        return None  # shown to the minute and sent back unchanged: keep it, seconds too
    return given


def _preview(body: str, errors: dict[str, str]) -> str | None:
    """The body as feeds and emails will carry it: the API's own Markdown renderer and
    sanitiser (newsroom.sanitize), so what is previewed is byte for byte what is stored."""
    if "body" in errors or len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        return None
    return markdown_to_html(body)


class Changed(Exception):
    def __init__(self, now: int) -> None:
        super().__init__(now)
        self.now = now


def _save(
    request: Request, viewer: desk.Viewer, facts: dict[str, Any] | None, data: ArticleIn,
    version: str,
) -> tuple[int, str]:  # fmt: skip
    now = utcnow()
    try:
        with session_scope() as session:
            was: ArticleStatus | None = None
            if facts is None:
                article, event = articles.create(session, data, now, _grace())
            else:
                current = articles.get(session, facts["slug"], for_update=True)
                if str(current.version) != version:
                    raise Changed(current.version)
                was = current.status
                article, event = articles.update(session, facts["slug"], data, now, _grace())
            action, done = _what(was, article, facts is None)
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            audit.record(session, actor, action, now, article.slug,
                         {"article": article.id, "version": article.version,
                          "status": article.status.value,
                          "published_at": article.published_at.isoformat()
                          if article.published_at else None})  # fmt: skip
            saved = (article.id, done)
            event_id = event.id if event else None
    except DomainError as exc:
        raise refused(exc) from None
    if event_id is not None:
        ring_events([event_id])  # after the commit: a rolled-back save never rings
    return saved


def _what(was: ArticleStatus | None, article: Article, new: bool) -> tuple[str, str]:
    """The audit action and the notice for what a save did."""
    status = article.status
    if status is ArticleStatus.PUBLISHED and was is not ArticleStatus.PUBLISHED:
        return "article.publish", "published"
    if status is ArticleStatus.SCHEDULED:
        return "article.schedule", "scheduled"
    if new:
        return "article.create", "created"
    return "article.update", "updated" if status is ArticleStatus.PUBLISHED else "saved"


# Retraction -----------------------------------------------------------------------------


@router.get("/articles/{article_id}/retract")
def confirm_retract(request: Request, viewer: SignedIn, article_id: str) -> Response:
    with read_scope() as session:
        facts = _facts(_load(session, article_id))
    if facts["status"] is ArticleStatus.RETRACTED:
        return see(f"/desk/articles/{facts['id']}?done=retracted")
    return page(request, "article_retract.html", viewer, article=facts)


@router.post("/articles/{article_id}/retract")
def retract_article(request: Request, posted: Posted, article_id: str) -> Response:
    viewer = posted.viewer
    now = utcnow()
    try:
        with session_scope() as session:
            article = _load(session, article_id)
            if article.status is ArticleStatus.RETRACTED:
                return see(f"/desk/articles/{article.id}?done=retracted")  # a second press
            was = article.status
            article, event = articles.retract(session, article.slug, now, _grace())
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            audit.record(session, actor, "article.retract", now, article.slug,
                         {"article": article.id, "version": article.version,
                          "was": was.value})  # fmt: skip
            target, event_id = article.id, (event.id if event else None)
    except DomainError as exc:
        raise refused(exc) from None
    if event_id is not None:
        ring_events([event_id])
    return see(f"/desk/articles/{target}?done=retracted")
