"""A real IMAP server for tests: Debian's Dovecot on loopback, with its own configuration in
a temporary folder, run in the foreground (`dovecot -F`) as a child of the test process.

One user (passwd-file passdb, password with å ä ö) whose Maildir the tests fill with
IMAP APPEND, as a delivering MTA would. Plain IMAP with STARTTLS on one port and IMAPS on
another, with a self-signed certificate the client trusts by `?cafile=`.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tests.smtpsink import make_certificate

USER = "studsar"
PASSWORD = "hemlig-lösen-å"
MAIL_USER = "nobody"  # Dovecot refuses to hold mail as root

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@dataclass(frozen=True)
class Dovecot:
    port: int
    tls_port: int
    cafile: Path

    def url(self, *, tls: bool = True, folder: str = "INBOX", **options: str) -> str:
        """BUDKAVLE_BOUNCE_IMAP_URL for this server: imaps://, or imap:// with STARTTLS."""
        query = "&".join(f"{k}={v}" for k, v in {"cafile": str(self.cafile), **options}.items())
        scheme, port = ("imaps", self.tls_port) if tls else ("imap", self.port)
        if not tls and "starttls" not in options:
            query += "&starttls=required"
        credentials = f"{quote(USER)}:{quote(PASSWORD)}"
        return f"{scheme}://{credentials}@127.0.0.1:{port}/{quote(folder)}?{query}"

    @contextmanager
    def client(self) -> Iterator[imaplib.IMAP4_SSL]:
        """A session of our own, to fill the mailbox and look at its flags."""
        context = ssl.create_default_context(cafile=str(self.cafile))
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=context, timeout=5)
        try:
            imap.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
            yield imap
        finally:
            imap.logout()

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.client() as imap:
            status, _ = imap.append(folder, "", None, raw)
            assert status == "OK"

    def flags(self, folder: str = "INBOX") -> list[str]:
        """Each message's flags, in order (an empty list: the folder is empty)."""
        with self.client() as imap:
            _, count = imap.select(folder, readonly=True)
            if count[0] == b"0":
                return []
            _, data = imap.fetch("1:*", "(FLAGS)")
            return [str(item) for item in data if item is not None and b"FLAGS" in item]

    def empty(self) -> None:
        with self.client() as imap:
            for folder in ("INBOX", "Behandlat"):
                status, count = imap.select(folder)
                if status == "OK" and count[0] != b"0":
                    imap.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                    imap.expunge()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running() -> Iterator[Dovecot]:
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).exists():
        raise RuntimeError("dovecot is not installed: run scripts/test-deps.sh")
    # Not under pytest's tmp_path: its folders are 0700, and Dovecot's auth process and
    # the mail user must reach the passwd file and the Maildir.
    root = Path(tempfile.mkdtemp(prefix="budkavle-dovecot-"))
    try:
        root.chmod(0o755)
        with _started(binary, root) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _started(binary: str, root: Path) -> Iterator[Dovecot]:
    account = pwd.getpwnam(MAIL_USER)
    cert, key = make_certificate(root)
    (root / "mail").mkdir()
    os.chown(root / "mail", account.pw_uid, account.pw_gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
    port, tls_port = _free_port(), _free_port()
    config = root / "dovecot.conf"
    config.write_text(
        _CONFIG.format(
            root=root,
            cert=cert,
            key=key,
            port=port,
            tls_port=tls_port,
            uid=account.pw_uid,
            gid=account.pw_gid,
        )
    )
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        _wait(process, tls_port, root)
        yield Dovecot(port, tls_port, cert)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _wait(process: subprocess.Popen[bytes], port: int, root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot exited with {process.returncode}: {output}{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("dovecot did not listen within 15 s")
