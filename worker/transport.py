"""kombu's Redis transport, with a worker that outlives a broker restart (kombu 5.7).

What goes wrong upstream, step by step (kombu 5.7.0, celery 5.7.0, redis-py 8.2.0): Redis
dies while the consumer's channel waits on a BRPOP, and celery's consumer first calls
``connection.collect()``, then ``connection.close()``.

1. ``collect()`` closes the channel. ``Channel.close()`` first reads the reply of the BRPOP
   in flight; on the dead socket that raises ConnectionError *before* the channel is marked
   closed. ``collect()`` swallows the error and detaches the transport (``client = None``).
2. ``close()`` closes the same channel again. Now it gets as far as putting the
   unacknowledged messages back (late acks: there are always some), which builds a new
   connection pool from ``transport.client``: ``AttributeError: 'NoneType' object has no
   attribute 'hostname'`` escapes, and the worker exits with "Unrecoverable error".
   (The same symptom from another path: celery/kombu#970.)

Two small changes fix it, and two more keep the promise behind it:

- ``Channel.close`` takes a dead connection in its BRPOP read as what it is, and closes.
- ``QoS.restore_unacked`` cannot put messages back while Redis is away: it keeps their
  delivery tags, and the next channel that connects in this process puts them back on
  their queues (kombu would have done so at once had Redis been up). Until then they wait
  in Redis's ``unacked`` hash, where the visibility timeout would find them too.
- An ack that times out (a frozen Redis) still frees the message's prefetch slot, and
  reaches Redis with the next ack that does. Upstream the slot stays taken, and once as
  many acks failed as the prefetch count, the consumer never asks for a message again
  (no socket timeout, upstream's default, hangs the worker instead).
- An ack on a closed channel (a task that finished after the connection died) is
  logged, not sent: the message was put back, so the task runs again, which every task
  here allows. Upstream, it would raise the same AttributeError.

``broker()`` chooses these classes only for the kombu versions they were checked
against; a newer kombu runs its own transport, and tests/test_broker_restart.py says
whether the bug is still there.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import kombu
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import Empty

log = logging.getLogger(__name__)

CHECKED_KOMBU = ((5, 7), (5, 7))  # the minor versions this was checked against

# Delivery tags this process could not finish with while Redis was away or frozen (one
# consumer per process: module-level sets are the process's): messages to put back on
# their queues, and messages whose task is done but whose ack did not reach Redis.
_orphans: set[str] = set()
_unfinished_acks: set[str] = set()
_lock = threading.Lock()


class QoS(kombu_redis.QoS):
    def restore_unacked(self, client: Any = None) -> None:
        self._flush()  # acked (some only here, see ack) is not unacknowledged
        tags = list(self._delivered)
        try:
            super().restore_unacked(client)
        except self.channel.connection_errors as exc:
            with _lock:
                _orphans.update(tags)
            self._delivered.clear()
            log.warning("Redis is away (%s): %d unacknowledged message(s) go back to their "
                        "queue when it answers again", exc, len(tags))  # fmt: skip

    def ack(self, delivery_tag: str) -> None:
        try:
            super().ack(delivery_tag)
        except self.channel.connection_errors:
            # The task is done; only Redis's record of the message is behind. Free its
            # prefetch slot all the same: kept, a few such acks (a frozen Redis times out
            # every one) leave the consumer never asking for another message.
            self._quick_ack(delivery_tag)
            with _lock:
                _unfinished_acks.add(delivery_tag)
            raise  # celery logs "Couldn't ack"
        self.finish_acks()

    def finish_acks(self) -> None:
        """Remove the messages of acks that failed from Redis's unacked records, so the
        visibility timeout does not deliver them again; best effort, retried later."""
        with _lock:
            tags = list(_unfinished_acks)
            _unfinished_acks.clear()
        if not tags:
            return
        try:
            with self.channel.conn_or_acquire() as client:
                pipe = client.pipeline()
                for tag in tags:
                    self._remove_from_indices(tag, pipe)
                pipe.execute()
        except self.channel.connection_errors:
            with _lock:
                _unfinished_acks.update(tags)


class Channel(kombu_redis.Channel):
    QoS = QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # pings Redis: it answers
        self.qos.finish_acks()
        self._restore_orphans()

    def _restore_orphans(self) -> None:
        with _lock:
            tags = list(_orphans)
            _orphans.clear()
        for index, tag in enumerate(tags):
            try:
                self.qos.restore_by_tag(tag)
            except self.connection_errors as exc:  # gone again: the next channel tries
                with _lock:
                    _orphans.update(tags[index:])
                log.warning("could not put messages back yet (%s)", exc)
                return
        if tags:
            log.warning("put %d unacknowledged message(s) back on their queue", len(tags))

    def close(self) -> None:
        if self._in_poll and not self.closed:
            try:
                self._brpop_read()  # clears _in_poll, whatever happens
            except Empty:
                pass
            except self.connection_errors:
                pass  # the reply died with the connection; close the rest
        super().close()

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        if self.closed:  # its connection died; restore_unacked put the message back
            log.warning("task finished after the broker connection closed: its message "
                        "%s was put back and runs again", delivery_tag)  # fmt: skip
            return
        super().basic_ack(delivery_tag, multiple)


class Transport(kombu_redis.Transport):
    Channel = Channel


class SocketTransport(Transport):
    # The URL stays whole ("socket:///path"): the channel reads it as a Unix socket, as
    # kombu's own transport does with "redis+socket:///path".
    can_parse_url = True


def broker(url: str) -> tuple[str, str | None]:
    """Celery's broker URL and ``broker_transport``: ours where kombu has the bug.

    kombu takes the transport from a ``redis+`` prefix whatever it is told, so the
    embedded Redis's ``redis+socket://`` is spelled ``socket://`` for ours. ``rediss://``
    (TLS) keeps kombu's transport: its checks of the TLS settings hang on that name.
    """
    low, high = CHECKED_KOMBU
    if not low <= tuple(kombu.VERSION[:2]) <= high:
        return url, None
    if url.startswith("redis+socket://"):
        return url.removeprefix("redis+"), f"{__name__}:SocketTransport"
    if url.startswith("redis://"):
        return url, f"{__name__}:Transport"
    return url, None
