"""The tables: articles, the outbox, feed documents, partners, WebSub, subscribers, digests."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no time zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum_values(enum_class: type[enum.Enum]) -> list[str]:
    # Store "published", not "PUBLISHED": the values are what APIs and queries speak.
    return [str(member.value) for member in enum_class]


class Base(DeclarativeBase):
    pass


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    RETRACTED = "retracted"


class EventKind(enum.StrEnum):
    PUBLISHED = "article.published"
    UPDATED = "article.updated"
    RETRACTED = "article.retracted"


article_tags = Table(
    "article_tags",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # The key starts with the article; a digest's reader of a rare tag asks by the tag.
    Index("ix_article_tags_tag", "tag_id", "article_id"),
)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    label: Mapped[str] = mapped_column(String(80))


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        Index("ix_articles_status_published", "status", "published_at"),
        # A language feed's entries and tombstones: one range each (migration 0011).
        Index("ix_articles_language_feed", "status", "language", "published_at"),
        # Per language, as digests ask: "new in Swedish since P" is one range of it.
        Index("ix_articles_first_position", "language", "first_position"),
        # The desk's list, newest first, of one status or one language: a walk back along
        # either index from the page's last id, never a sort of the whole archive.
        Index("ix_articles_status_id", "status", "id"),
        Index("ix_articles_language_id", "language", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The entry id in every feed (urn:uuid:...): stable when slug or URL change.
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[ArticleStatus] = mapped_column(
        Enum(ArticleStatus, native_enum=False, length=16, values_callable=_enum_values)
    )
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text)
    body_markdown: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    image_url: Mapped[str | None] = mapped_column(String(2000))
    image_alt: Mapped[str] = mapped_column(String(300), default="")
    image_caption: Mapped[str] = mapped_column(String(500), default="")
    canonical_url: Mapped[str | None] = mapped_column(String(2000))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The outbox position of its first "published" event: when it became news. Digests
    # ask "what is new since position P" as a range of this index, never of the outbox's
    # history (which is pruned). Unpublished and published again, it keeps the first.
    first_position: Mapped[int | None] = mapped_column(Integer)
    # The editor's say over the email side only (feeds, pages and partners ignore both):
    # ``lead`` puts it first and large in the digests it is in; ``keep_out_of_email``
    # keeps it out of every digest and welcome email.
    lead: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    keep_out_of_email: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    tags: Mapped[list[Tag]] = relationship(
        secondary=article_tags, order_by=Tag.slug, lazy="selectin"
    )

    @property
    def tag_slugs(self) -> list[str]:
        return [tag.slug for tag in self.tags]


class TagEntry(Base):
    """An article under one of its tags, with what a tag feed selects and orders by: the
    index that tag feeds read as a range scan of the tag (newest first, ``feed_size``
    rows) instead of walking every article in search of the tag.

    One row per (article, tag) while the article is published or retracted (a draft or a
    scheduled article is in no feed). ``at``: the publication time of a published
    article, the retraction time of a retracted one. Kept in step with the article in the
    same transaction by newsroom.tagindex.sync, on every create, update and retraction.
    """

    __tablename__ = "tag_entries"
    __table_args__ = (
        Index("ix_tag_entries_feed", "tag_id", "status", "at", "article_id"),
        Index("ix_tag_entries_language", "tag_id", "status", "language", "at", "article_id"),
    )

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[ArticleStatus] = mapped_column(
        Enum(ArticleStatus, native_enum=False, length=16, values_callable=_enum_values)
    )
    language: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class TagDay(Base):
    """How many published articles carried a tag on one day (UTC), per language: what
    the tag cloud sums over its window, instead of counting every article in it.

    Kept by newsroom.tagindex.sync in the transaction that publishes, changes or
    retracts an article; rows that fall to zero are deleted.
    """

    __tablename__ = "tag_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    articles: Mapped[int] = mapped_column(Integer)


class TagDaysVersion(Base):
    """One row: a token that changes whenever the day counts of a day before today
    change (an older article updated, retagged or retracted; a backdated publish), in
    the transaction that changes them. The tag cloud keeps the sums of a window's
    settled days in memory under this token (newsroom.daysums).

    Random, not a counter: a database made again (or a test's emptied tables) never
    repeats a token that a running process still holds sums for.
    """

    __tablename__ = "tag_days_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))


class OutboxEvent(Base):
    """One row per change that the rest of the system must hear about (the outbox pattern).

    Written in the same transaction as the change; ``handled_at`` is set once every
    consumer has converged. The Celery task that handles it is only a doorbell.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_pending", "handled_at", "next_ring_at"),
        UniqueConstraint("position", name="uq_outbox_events_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[EventKind] = mapped_column(
        Enum(EventKind, native_enum=False, length=32, values_callable=_enum_values)
    )
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # The feeds this change touches, old and new ("all", "tags/x", "lang/sv").
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The order in which partners see changes (the pull cursor). Given by the worker under
    # a lock, so positions become visible in increasing order; ids are not, since a
    # transaction can commit after one that took a higher id.
    position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_ring_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The first step (the "all" feed) is done: a bell now owes only the second.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxHorizon(Base):
    """How far back the outbox still holds every change whole: one row, id 1.

    Every event at ``position`` or later is kept as it was written, so the pull API serves
    any cursor from ``position - 1`` on; events before it may be slimmed or deleted
    (newsroom/retention.py). A row, not a query: the pull API tells a too-old cursor
    with one primary-key read, and the pruner moves it in the transaction that prunes.
    """

    __tablename__ = "outbox_horizon"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=1)
    moved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ArchiveSlot(Base):
    """An article's place in one feed's RFC 5005 archive, given when it first appears in
    that feed and never moved.

    Archive page n of a feed holds its slots (n-1)*size+1 to n*size. An article that
    leaves the feed (retracted, back to draft, retagged) leaves a tombstone in its slot
    and a backdated article takes the next slot at the end, so neither moves the
    boundaries of a page a reader has already archived (§4: the set of entries at an
    archive URI does not change).
    """

    __tablename__ = "archive_slots"
    __table_args__ = (UniqueConstraint("feed_key", "article_id", name="uq_archive_slots_article"),)

    feed_key: Mapped[str] = mapped_column(String(90), primary_key=True)  # "tags/borlange"
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, 2, ... per feed
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    # When the article left the feed, its tombstone's time; None while it is in the feed.
    # Kept here, not read from the article: editing a draft later must not move it.
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedDocumentRow(Base):
    """The current bytes of one feed in one format: what readers are served."""

    __tablename__ = "feed_documents"

    path: Mapped[str] = mapped_column(String(200), primary_key=True)  # "tags/borlange.atom"
    content_type: Mapped[str] = mapped_column(String(80))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(80))
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PartnerState(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"        # to be sent, now or at next_attempt_at
    DELIVERED = "delivered"    # the partner answered 2xx
    FAILED = "failed"          # the retry schedule ran out; the operator may replay it


class Partner(Base):
    """A partner municipality: what it wants (filters) and how it gets it (push, pull)."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # The signing secret ("whsec_..."): kept, since every push is signed with it.
    secret: Mapped[str | None] = mapped_column(String(100))
    # The secret before the last rotation: it still signs, beside the new one, until
    # previous_secret_expires_at (the overlap), so a partner can switch without a gap.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Only a hash of the pull key: it is only ever checked, never shown again.
    pull_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)        # slugs; [] = all
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)   # codes; [] = all
    state: Mapped[PartnerState] = mapped_column(
        Enum(PartnerState, native_enum=False, length=16, values_callable=_enum_values),
        default=PartnerState.ACTIVE,
    )
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set at the first failure of a run of failures, cleared by a success.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PartnerDelivery(Base):
    """One push of one event to one partner: unique, so an event never goes out twice."""

    __tablename__ = "partner_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "partner_id"),
        Index("ix_partner_deliveries_due", "status", "next_attempt_at"),
        Index("ix_partner_deliveries_chain", "partner_id", "article_id", "event_id"),
        # The log's retention deletes the oldest first (newsroom/retention.py).
        Index("ix_partner_deliveries_created", "created_at"),
        # The desk: a partner's newest deliveries, and its last success (partnerhealth.py).
        Index("ix_partner_deliveries_log", "partner_id", "id"),
        Index("ix_partner_deliveries_delivered", "partner_id", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(Integer)
    # Standard Webhooks: the same id on every retry, so the receiver can deduplicate.
    webhook_id: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=16, values_callable=_enum_values),
        default=DeliveryStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryAttempt(Base):
    """The log an operator reads: every attempt, its answer and how long it took."""

    __tablename__ = "partner_delivery_attempts"
    # The dashboard's failures per hour: a range of attempts by time (migration 0015).
    __table_args__ = (Index("ix_partner_delivery_attempts_at", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("partner_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class WebSubSubscription(Base):
    """A verified WebSub subscription: a callback that gets a topic's new bodies."""

    __tablename__ = "websub_subscriptions"
    __table_args__ = (UniqueConstraint("topic", "callback"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), index=True)   # feed path, "all.atom"
    callback: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str | None] = mapped_column(String(200))
    lease_seconds: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebSubIntent(Base):
    """A (un)subscribe request waiting for its intent verification (WebSub §5.3)."""

    __tablename__ = "websub_intents"

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(String(12))                 # subscribe | unsubscribe
    topic: Mapped[str] = mapped_column(String(200))
    callback: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str | None] = mapped_column(String(200))
    lease_seconds: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # verified | denied
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebSubPush(Base):
    """The newest body a subscription still has to receive: one row per subscription.

    A newer change replaces the ETag to send, so a subscriber that was down gets the
    latest content once, not every version it missed (WebSub §7: the full new body).
    """

    __tablename__ = "websub_pushes"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("websub_subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    etag: Mapped[str] = mapped_column(String(80))
    delivered_etag: Mapped[str | None] = mapped_column(String(80))
    # Set while a push is in flight, so a second bell does not send the same body at once.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"            # subscribed on the form, not yet confirmed by email
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"            # suppressed: permanent failures or bounces past a threshold
    COMPLAINED = "complained"      # suppressed: marked as spam
    SUPPRESSED = "suppressed"      # suppressed by an operator at the desk or the API


class Frequency(enum.StrEnum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


class EmailStatus(enum.StrEnum):
    QUEUED = "queued"      # to be sent, now or at next_attempt_at
    SENT = "sent"          # the SMTP server accepted it
    FAILED = "failed"      # refused for good (5xx), or the address was suppressed meanwhile


class Subscriber(Base):
    """A reader who wants digests, with the proof that they asked for them."""

    __tablename__ = "subscribers"
    __table_args__ = (
        Index("ix_subscribers_digest", "status", "frequency", "time_zone"),
        # Ids are never reused (SQLite would reuse the highest one after a delete): the
        # links in an erased subscriber's old emails must not wake up for a newcomer.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)   # normalised
    status: Mapped[SubscriberStatus] = mapped_column(
        Enum(SubscriberStatus, native_enum=False, length=16, values_callable=_enum_values)
    )
    language: Mapped[str] = mapped_column(String(8))
    frequency: Mapped[Frequency] = mapped_column(
        Enum(Frequency, native_enum=False, length=16, values_callable=_enum_values)
    )
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)    # slugs; [] = every tag
    time_zone: Mapped[str] = mapped_column(String(64))
    # Proof of consent (GDPR art. 7(1)): when, from where, and which form text was agreed to.
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    consent_ip: Mapped[str | None] = mapped_column(String(45))
    consent_form: Mapped[str] = mapped_column(String(80))
    # A confirmation (or "you are already subscribed") email is owed when these differ:
    # set by the request, copied by the task once sent, so the email goes once.
    notice_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Digests cover the articles published after this outbox position; each edition that
    # includes the subscriber moves it on, so no article reaches them twice.
    digest_position: Mapped[int] = mapped_column(Integer, default=0)
    # Permanent failures and bounces since the reader last showed that mail reaches them
    # (confirming, saving preferences). An accepted SMTP send does not reset it: a bounce
    # may still follow (see worker/deliver.py).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Edition(Base):
    """One digest for one group of subscribers: the articles up to ``to_position``."""

    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "daily:Europe/Helsinki:2026-11-26", "immediate:412": unique, so planning twice is safe.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    frequency: Mapped[Frequency] = mapped_column(
        Enum(Frequency, native_enum=False, length=16, values_callable=_enum_values)
    )
    to_position: Mapped[int] = mapped_column(Integer)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    # Planning writes its deliveries in short transactions; until it is done, the worker
    # planning it holds a lease, and a sweep takes over an edition whose lease ran out.
    plan_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    plan_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EditionSegment(Base):
    """One rendering of an edition: every subscriber who gets the same articles in the same
    language gets these bytes, personalised only by substitution."""

    __tablename__ = "edition_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(String(8))
    article_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(300))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailDelivery(Base):
    """One email of one edition to one subscriber: unique, so nobody gets an edition twice."""

    __tablename__ = "email_deliveries"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id"),
        # Serves both a batch's claim (edition, queued, batch) and "is the edition done?".
        Index("ix_email_deliveries_batch", "edition_id", "status", "batch"),
        Index("ix_email_deliveries_due", "status", "next_attempt_at"),
        # The desk's dashboard counts per hour over a recent window (migration 0015).
        Index("ix_email_deliveries_sent", "sent_at"),
        Index(
            "ix_email_deliveries_failed",
            "failed_at",
            postgresql_where=text("failed_at IS NOT NULL"),
            sqlite_where=text("failed_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("edition_segments.id", ondelete="CASCADE"), index=True
    )
    # Erasing a subscriber erases their deliveries too (GDPR art. 17).
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    batch: Mapped[int] = mapped_column(Integer)
    status: Mapped[EmailStatus] = mapped_column(
        Enum(EmailStatus, native_enum=False, length=16, values_callable=_enum_values),
        default=EmailStatus.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while a batch task sends it, so a second bell does not send it at the same time.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(16))  # whose lease it is
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When it failed for good (status failed); None for failures before migration 0015.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProcessedReport(Base):
    """A returned mail already applied (bounce, complaint, unsubscribe): its key, so the
    same report fed twice counts once (see newsroom/bounces.py)."""

    __tablename__ = "processed_reports"

    # The report's Message-ID, or "sha256:<hex>" of its bytes when it has none.
    message_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What it counted against our mail: hard bounces and spam complaints (the dashboard's
    # rates). Zero for a transient bounce, an unsubscribe, and reports before migration 0015.
    bounces: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    complaints: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index("ix_processed_reports_at", "processed_at"),)


# The desk's tables live in their own module; importing it here puts them in Base.metadata
# for Alembic and every test that builds the schema from it.
from newsroom import deskmodels as _deskmodels  # noqa: E402, F401
