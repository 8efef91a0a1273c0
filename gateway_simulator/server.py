"""The transport: a threaded HTTP/1.1 server, the ticker that makes timed changes happen, and the
thread that posts webhooks back to the CRM (INTERFACE.md §5).

`GatewaySimulator(port=0).start()` serves in background threads (tests, benchmarks);
`serve_forever()` serves in the calling thread (`manage.py run_gateway_simulator`). The socket is
bound in the constructor, so `url` holds the real port before `start()`. Webhooks go out one at a
time in the order they happened; a connection error or 5xx is retried with backoff, a 4xx is not,
and a CRM that is down never blocks a request.

`dialect` picks the API it speaks: "vps" (ours, §4), "waha" or "evolution", with an engine
`variant` (dialect_*.py). Left out, they come from SIMULATOR_DIALECT / SIMULATOR_VARIANT, and a
full webhook URL from SIMULATOR_WEBHOOK_URL, so `manage.py run_gateway_simulator` and
`python -m gateway_simulator` follow the same environment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

from gateway_simulator import routes
from gateway_simulator.base import Dialect, Webhook
from gateway_simulator.dialects import make_dialect
from gateway_simulator.state import SimulatorState

WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_RETRIES = 3  # after the first attempt
# 4xx answers that ask for the event again later (the CRM's 409 "retry": docs/gateway-protocol.md).
RETRY_LATER = frozenset({408, 409, 429})
WEBHOOK_BACKOFF_SECONDS = 0.2


class GatewaySimulator(SimulatorState):
    """The gateway + WHAPI simulator: the state of state.py, served over HTTP."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 9100,
        api_key: str = "dev-gateway-key",
        webhook_base: str | None = None,
        webhook_url: str | None = None,
        webhook_api_key: str | None = None,
        webhook_hmac_secret: str | None = None,
        whapi_token: str | None = None,
        connect_after: float = 3.0,
        late_error_delay: float = 1.0,
        idempotent: bool = False,
        groups_per_session: int = 30,
        quiet: bool = True,
        dialect: str | Dialect | None = None,
        variant: str | None = None,
        auto_acks: bool = False,
        auto_ack_delay: float = 1.0,
        auto_ack_read_share: float = 0.3,
        auto_ack_seed: int | str | None = None,
    ) -> None:
        if not isinstance(dialect, Dialect):
            dialect = make_dialect(
                dialect if dialect is not None else os.environ.get("SIMULATOR_DIALECT"),
                variant if variant is not None else os.environ.get("SIMULATOR_VARIANT"),
            )
        super().__init__(
            api_key=api_key,
            whapi_token=whapi_token,
            webhook_base=webhook_base,
            webhook_url=webhook_url or os.environ.get("SIMULATOR_WEBHOOK_URL") or None,
            webhook_api_key=webhook_api_key,
            webhook_hmac_secret=webhook_hmac_secret,
            connect_after=connect_after,
            late_error_delay=late_error_delay,
            idempotent=idempotent,
            groups_per_session=groups_per_session,
            dialect=dialect,
            auto_acks=auto_acks,
            auto_ack_delay=auto_ack_delay,
            auto_ack_read_share=auto_ack_read_share,
            auto_ack_seed=auto_ack_seed,
        )
        self.host = host
        self.quiet = quiet
        self.webhook_backoff = WEBHOOK_BACKOFF_SECONDS  # tests shorten it

        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._serving = False
        self._connections: set[socket.socket] = set()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._server = _Server((host, port), self)

    # --- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    @property
    def whapi_url(self) -> str:
        return self.url + "/whapi"

    def start(self) -> GatewaySimulator:
        self._start_workers()
        self._serving = True
        thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="gateway-simulator-http",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        self._start_workers()
        self._serving = True
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wakeup.set()
        self._webhook_queue.put(None)
        if self._serving:
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise linger
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle(
        self, method: str, path: str, headers: Any, raw: bytes, client_ip: str, query: str = ""
    ) -> routes.Response:
        return routes.handle(self, method, path, headers, raw, client_ip, query)

    def _start_workers(self) -> None:
        for target, name in ((self._tick_loop, "ticker"), (self._webhook_loop, "webhooks")):
            thread = threading.Thread(target=target, name=f"gateway-simulator-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _tick_loop(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            with self._lock:
                next_due = self._advance(time.monotonic())
            self._wakeup.wait(max(0.0, next_due - time.monotonic()))

    def _log(self, line: str) -> None:
        sys.stderr.write(f"[gateway-simulator] {line}\n")

    # --- webhooks ----------------------------------------------------------------------------------
    def _webhook_loop(self) -> None:
        while True:
            item = self._webhook_queue.get()
            if item is None or self._stopping.is_set():
                return
            generation, webhook = item
            delivery = self._deliver(webhook)
            with self._lock:
                if generation == self._generation:
                    self._deliveries.append(delivery)

    def _deliver(self, webhook: Webhook) -> dict[str, Any]:
        url, payload = webhook.url, webhook.payload
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "gateway-simulator"}
        headers.update(webhook.headers)
        if webhook.hmac_key:
            headers["X-Webhook-Hmac"] = hmac.new(
                webhook.hmac_key.encode(), body, hashlib.sha512
            ).hexdigest()
        delivery: dict[str, Any] = {
            "url": url,
            "payload": payload,
            "status": None,
            "error": None,
            "attempts": 0,
            "response": None,
        }
        for attempt in range(1 + WEBHOOK_RETRIES):
            if attempt and self._stopping.wait(self.webhook_backoff * 2 ** (attempt - 1)):
                break
            delivery["attempts"] = attempt + 1
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with self._opener.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                    answer = response.read(2000)
                    delivery.update(status=response.status, error=None)
                    delivery["response"] = answer.decode(errors="replace")
                    break
            except urllib.error.HTTPError as exc:
                delivery.update(status=exc.code, error=f"HTTP {exc.code}")
                delivery["response"] = exc.read(2000).decode(errors="replace")
                if exc.code < 500 and exc.code not in RETRY_LATER:
                    break  # the CRM refused it: sending it again cannot help
            except (OSError, ValueError) as exc:  # refused, reset, timeout, bad URL
                reason = getattr(exc, "reason", exc)
                delivery.update(status=None, error=str(reason) or type(exc).__name__)
        if delivery["error"] and not self.quiet:
            self._log(
                f"webhook {url} failed after {delivery['attempts']} attempts: {delivery['error']}"
            )
        return delivery


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: GatewaySimulator) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.simulator = simulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away (e.g. its timeout fired): nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GatewaySimulator/1.0"
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        sim = self.server.simulator
        with sim._lock:
            sim._connections.add(self.connection)

    def finish(self) -> None:
        sim = self.server.simulator
        with sim._lock:
            sim._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _dispatch(self) -> None:
        started = time.perf_counter()
        sim = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        try:
            response = sim.handle(
                self.command, parts.path, self.headers, raw, self.client_address[0], parts.query
            )
        except Exception:  # noqa: BLE001 (a simulator bug answers 500, and is printed)
            traceback.print_exc()
            response = routes.Response(500, {"error": "simulator internal error"})
        if response.status == 0:
            # Drop the connection without an answer, as a crashing proxy would.
            self.close_connection = True
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            except OSError:
                pass
            if not sim.quiet:
                sim._log(f'{self.client_address[0]} "{self.requestline}" dropped')
            return
        if isinstance(response.body, str):
            payload = response.body.encode()
            content_type = "text/html; charset=utf-8"
        else:
            payload = json.dumps(response.body if response.body is not None else {}).encode()
            content_type = "application/json"
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        if not sim.quiet:
            elapsed = (time.perf_counter() - started) * 1000
            sim._log(
                f'{self.client_address[0]} "{self.requestline}" {response.status} {elapsed:.1f}ms'
            )

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs one line with the duration instead

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.simulator.quiet:
            self.server.simulator._log(format % args)
