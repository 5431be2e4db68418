"""The bounce mailbox, read over IMAP: every unseen message applied once, then marked.

Bounces go to the VERP envelope sender (newsroom/verp.py); the mailbox behind it is read
on a beat schedule. Each message is fetched with BODY.PEEK[] (RFC 9051 §6.4.5: no
implicit \\Seen), applied in its own transaction (newsroom/bounces.py), and only after that
commit marked as processed: \\Seen (the default), moved to a folder (RFC 6851 MOVE), or
deleted. A crash between the commit and the mark reads the message again next time, and
its report key makes that a duplicate that changes nothing.

A message that is no mail at all (not UTF-8, no header) is marked \\Seen and left where
it is for an operator to look at; it is never deleted.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from config import Settings
from config.settings import SettingsError
from newsroom import bounces
from newsroom.db import session_scope
from newsroom.reports import ReportError
from worker import tallies

log = logging.getLogger(__name__)

MAX_PER_SWEEP = 200  # the rest waits for the next beat: a sweep stays short
Processed = Literal["seen", "delete", "move"]
_UID = re.compile(rb"\bUID (\d+)")
_VAR = "BUDKAVLE_BOUNCE_IMAP_URL"
_OPTIONS = ("timeout", "starttls", "verify", "cafile", "processed", "move_to")


class MailboxError(Exception):
    """The mailbox could not be read this time (refused login, lost connection, timeout)."""


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    tls: bool  # imaps:// (TLS from the start); imap:// always upgrades with STARTTLS
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    timeout: float = 30.0
    verify: bool = True
    cafile: str = ""
    processed: Processed = "seen"
    move_to: str = ""


@dataclass
class Swept:
    applied: int = 0  # changed a subscriber, or recorded a report about one
    duplicate: int = 0  # applied before (a crash between commit and mark)
    unverified: int = 0  # not traced to mail we sent: nothing changed
    other: int = 0  # no report (an out-of-office reply): nothing to do
    refused: int = 0  # not a mail at all: left, seen, for an operator


def sweep(mailbox: Mailbox, settings: Settings, limit: int = MAX_PER_SWEEP) -> Swept:
    """Apply up to `limit` unseen messages; MailboxError if the mailbox cannot be read."""
    swept = Swept()
    try:
        imap = _connect(mailbox)
        try:
            _select(imap, mailbox.folder)
            # UNDELETED: with processed=delete, one flagged but not yet expunged is done.
            for uid in _search(imap, "UNSEEN UNDELETED")[:limit]:
                _one(imap, uid, mailbox, settings, swept)
            if mailbox.processed != "seen":
                imap.expunge()
        finally:
            _logout(imap)
    except (imaplib.IMAP4.error, OSError) as error:  # ssl.SSLError is an OSError
        raise MailboxError(f"{mailbox.host}:{mailbox.port}: {error}") from error
    return swept


def _one(imap: imaplib.IMAP4, uid: bytes, mailbox: Mailbox, settings: Settings,
         swept: Swept) -> None:  # fmt: skip
    raw = _fetch(imap, uid)
    if raw is None:
        return  # expunged meanwhile by someone else
    try:
        with session_scope() as session:  # committed when the block ends
            applied = bounces.apply_raw(session, raw, settings)
        tallies.count_report(applied)
    except ReportError as error:
        log.warning("bounce mailbox: message UID %s is no mail (%s); left, seen", uid, error)
        swept.refused += 1
        _store(imap, uid, "+FLAGS.SILENT", r"(\Seen)")
        return
    if applied.duplicate:
        swept.duplicate += 1
    elif applied.unverified:
        swept.unverified += 1
    elif not applied.changes:
        swept.other += 1
    else:
        swept.applied += 1
    _mark(imap, uid, mailbox)


def _mark(imap: imaplib.IMAP4, uid: bytes, mailbox: Mailbox) -> None:
    if mailbox.processed == "move":
        if b"MOVE" in _capabilities(imap):
            _ok(imap.uid("MOVE", uid.decode(), _quoted(mailbox.move_to)))
            return
        _ok(imap.uid("COPY", uid.decode(), _quoted(mailbox.move_to)))
    flags = r"(\Seen)" if mailbox.processed == "seen" else r"(\Seen \Deleted)"
    _store(imap, uid, "+FLAGS.SILENT", flags)


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    context = ssl.create_default_context(cafile=mailbox.cafile or None)
    if not mailbox.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    imap: imaplib.IMAP4
    if mailbox.tls:
        imap = imaplib.IMAP4_SSL(
            mailbox.host, mailbox.port, ssl_context=context, timeout=mailbox.timeout
        )
    else:
        imap = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=mailbox.timeout)
        try:
            imap.starttls(context)  # RFC 9051 §6.2.1; never a password in the clear
        except BaseException:
            imap.shutdown()
            raise
    try:
        if "AUTH=PLAIN" in imap.capabilities:
            # RFC 4616: UTF-8 credentials; imaplib's LOGIN sends ASCII only.
            credentials = f"\0{mailbox.username}\0{mailbox.password}".encode()
            imap.authenticate("PLAIN", lambda _: credentials)
        else:
            imap.login(mailbox.username, mailbox.password)
    except BaseException:
        imap.shutdown()
        raise
    return imap


def _select(imap: imaplib.IMAP4, folder: str) -> None:
    status, data = imap.select(_quoted(folder))
    if status != "OK":
        raise imaplib.IMAP4.error(f"folder {folder!r}: {data!r}")


def _search(imap: imaplib.IMAP4, criteria: str) -> list[bytes]:
    data = _ok(imap.uid("SEARCH", criteria))
    return [uid for line in data if isinstance(line, bytes) for uid in line.split()]


def _fetch(imap: imaplib.IMAP4, uid: bytes) -> bytes | None:
    for item in _ok(imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")):
        if isinstance(item, tuple) and _UID.search(item[0]):
            return bytes(item[1])
    return None


def _store(imap: imaplib.IMAP4, uid: bytes, command: str, flags: str) -> None:
    _ok(imap.uid("STORE", uid.decode(), command, flags))


def _capabilities(imap: imaplib.IMAP4) -> bytes:
    return " ".join(imap.capabilities).encode()


def _ok(answer: tuple[str, list[object]]) -> list[object]:
    status, data = answer
    if status != "OK":
        raise imaplib.IMAP4.error(f"{status}: {data!r}")
    return data


def _quoted(folder: str) -> str:
    # RFC 9051 §4.3: a quoted string; modified UTF-7 names (§5.1.3) pass through as they are.
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _logout(imap: imaplib.IMAP4) -> None:
    try:
        imap.logout()
    except (imaplib.IMAP4.error, OSError):
        imap.shutdown()


def mailbox_from_url(url: str, timeout: float = 30.0) -> Mailbox:
    """imaps://user:pass@host:993/INBOX?processed=move&move_to=Behandlat; SettingsError
    naming BUDKAVLE_BOUNCE_IMAP_URL for anything it cannot use."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise SettingsError(f"{_VAR}: use imaps://user:password@host:993/INBOX or imap://...")
    try:
        port = parts.port or (993 if scheme == "imaps" else 143)
    except ValueError:
        raise SettingsError(f"{_VAR}: the port must be a number") from None
    if not parts.hostname or not parts.username:
        raise SettingsError(f"{_VAR}: needs user, password and host: imaps://user:pw@host/INBOX")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise SettingsError(f"{_VAR}: unknown option {unknown[0]!r} (known: {', '.join(_OPTIONS)})")
    processed = options.get("processed", "seen")
    if processed not in ("seen", "delete", "move"):
        raise SettingsError(f"{_VAR}: processed must be seen, delete or move")
    if (processed == "move") != bool(options.get("move_to")):
        raise SettingsError(f"{_VAR}: processed=move goes with move_to=FOLDER, and only it")
    if scheme == "imaps" and "starttls" in options:
        raise SettingsError(f"{_VAR}: imaps:// is TLS already; drop ?starttls")
    if options.get("starttls", "required") != "required":
        raise SettingsError(f"{_VAR}: imap:// always uses STARTTLS (starttls=required)")
    try:
        timeout = float(options.get("timeout", timeout))
    except ValueError:
        raise SettingsError(f"{_VAR}: timeout must be seconds, e.g. 30") from None
    if not timeout > 0:
        raise SettingsError(f"{_VAR}: timeout must be more than 0 seconds")
    return Mailbox(
        host=parts.hostname, port=port, tls=scheme == "imaps",
        username=unquote(parts.username), password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX", timeout=timeout,
        verify=options.get("verify", "1").lower() not in ("0", "false", "no"),
        cafile=options.get("cafile", ""), processed=processed,  # type: ignore[arg-type]
        move_to=options.get("move_to", ""),
    )  # fmt: skip
