"""A wall-clock deadline for one HTTP call made with `requests` (used by the gateway client).

`requests` timeouts bound each socket operation, not the call: a server that trickles a byte
every few seconds keeps a call open as long as it likes. Inside `with call_deadline(seconds)`,
every connection the thread uses (new or reused from the pool) hands its socket to a watchdog
timer, which shuts the socket down when the deadline passes; the blocked read returns at once
and `requests` raises. The caller checks `deadline.expired` to tell that apart from a real
network error. Sessions get this through `DeadlineAdapter`, which plugs watched connection
classes into urllib3's pool manager (its `ConnectionCls` / `pool_classes_by_scheme` hooks), so
`responses` mocks still intercept as usual.

A connect that has not finished when the deadline passes is not cut: the connect timeout,
never longer than the deadline, ends it (and the request was then certainly not sent).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _CallDeadline:
    """Shuts the sockets of one call down when its deadline passes.

    `shutdown` (not `close`) wakes a read blocked in another thread at once, and leaves closing
    the socket to its owner. A socket that is already closed just raises OSError here.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


_current = threading.local()


@contextmanager
def call_deadline(seconds: float) -> Iterator[_CallDeadline]:
    """Every connection used by this thread inside the block is cut at `seconds` from now."""
    deadline = _CallDeadline(seconds)
    outer = getattr(_current, "deadline", None)
    _current.deadline = deadline
    deadline._timer.start()
    try:
        yield deadline
    finally:
        deadline._timer.cancel()
        _current.deadline = outer


class _WatchedConnectionMixin:
    """Hands its socket to the calling thread's deadline, new or reused from the pool."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _watch(sock: socket.socket | None) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """A requests adapter whose connections obey `call_deadline` (urllib3's documented
    `ConnectionCls` / `pool_classes_by_scheme` hooks)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }
