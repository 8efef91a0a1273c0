"""The parts of the simulator state that watch and disturb requests, whatever the dialect: the
request log (and `wait_for_request`), the failure rules, and the WHAPI switches.

Mixed into `SimulatorState`, which owns the lock (`_lock`, `_request_arrived`) and calls
`_init_observe()` from its `_init_state()`. WHAPI's group members live in members.py.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

# Benchmarks make hundreds of thousands of requests; tests only look at the last few.
REQUEST_LOG_LIMIT = 10_000


@dataclass
class FailureRule:
    path: re.Pattern[str]
    status: int | None
    method: str | None
    body: Any
    times: int
    delay: float

    def describe(self) -> dict[str, Any]:
        return {**vars(self), "path": self.path.pattern}


class Observed:
    _lock: threading.Lock
    _request_arrived: threading.Condition
    _member_groups: dict[str, dict[str, Any]]  # members.py: the groups set or changed

    def _init_observe(self) -> None:
        self._failures: list[FailureRule] = []
        self._requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._whapi_latency_ms = 0
        self._whapi_rate_limit_every = 0
        self._whapi_requests = 0

    # --- failure rules ---------------------------------------------------------------------------
    def add_failure(
        self,
        *,
        path: str,
        status: int | None,
        method: str | None = None,
        body: Any = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        rule = FailureRule(
            path=re.compile(path),
            status=status,
            method=method.upper() if method else None,
            body=body,
            times=times,
            delay=delay,
        )
        with self._lock:
            self._failures.append(rule)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def match_failure(self, method: str, path: str) -> FailureRule | None:
        """The first rule with uses left that matches; one use is consumed."""
        with self._lock:
            for rule in self._failures:
                if rule.times == 0:
                    continue
                if rule.method and rule.method != method:
                    continue
                if rule.path.search(path):
                    if rule.times > 0:
                        rule.times -= 1
                    return rule
        return None

    # --- the request log -------------------------------------------------------------------------
    def requests(self) -> list[dict[str, Any]]:
        """Gateway and WHAPI requests in the order they arrived: {"method","path","at"}."""
        with self._lock:
            return [dict(request) for request in self._requests]

    def log_request(self, method: str, path: str) -> None:
        with self._request_arrived:
            self._requests.append({"method": method, "path": path, "at": time.time()})
            self._request_arrived.notify_all()

    def wait_for_request(
        self, path: str, *, method: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Block until `count` requests matching `path` (a regex searched in the path) and
        `method` have arrived, counting those already logged; return the last of them.

        A request counts as soon as it is read, before a failure rule's delay is served: the
        caller knows the client is waiting for the answer. Raises TimeoutError after `timeout` s.
        """
        pattern = re.compile(path)
        method = method.upper() if method else None

        def matching() -> list[dict[str, Any]]:
            return [
                request
                for request in self._requests
                if pattern.search(request["path"]) and method in (None, request["method"])
            ]

        with self._request_arrived:
            if not self._request_arrived.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(
                    f"no {method or 'request'} to {path!r} (×{count}) within {timeout} s"
                )
            return dict(matching()[count - 1])

    # --- WHAPI -----------------------------------------------------------------------------------
    def configure_whapi(
        self, *, latency_ms: int | None = None, rate_limit_every: int | None = None
    ) -> None:
        """None leaves a setting as it is; 0 switches it off."""
        with self._lock:
            if latency_ms is not None:
                self._whapi_latency_ms = max(0, int(latency_ms))
            if rate_limit_every is not None:
                self._whapi_rate_limit_every = max(0, int(rate_limit_every))
                self._whapi_requests = 0

    def whapi_lookup(self, group_id: str) -> tuple[dict[str, Any] | None, float, bool]:
        """Count a WHAPI request: (the group as set or changed, else None; latency in s;
        rate-limited?)."""
        with self._lock:
            self._whapi_requests += 1
            limited = (
                self._whapi_rate_limit_every > 0
                and self._whapi_requests % self._whapi_rate_limit_every == 0
            )
            return self._member_groups.get(group_id), self._whapi_latency_ms / 1000, limited

    def _observe_state_locked(self) -> dict[str, Any]:
        return {
            "requests": len(self._requests),
            "failures": [rule.describe() for rule in self._failures],
            "whapi": {
                "latency_ms": self._whapi_latency_ms,
                "rate_limit_every": self._whapi_rate_limit_every,
                "groups": sorted(self._member_groups),
            },
        }
