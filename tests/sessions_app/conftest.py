"""Helpers for session tests: the gateway mocked at the HTTP edge with `responses`."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
import responses
from django.conf import settings


class GatewayMock:
    """The gateway's answers for one test (HTTP mocked; everything else is real)."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps

    @property
    def url(self) -> str:
        return settings.GATEWAY_URL

    def status(
        self,
        session_id: str,
        status: str = "connected",
        phone: str | None = None,
        error: str | None = None,
        http_status: int = 200,
    ) -> None:
        body = {"sessionId": session_id, "status": status, "phoneNumber": phone, "error": error}
        self.rsps.get(f"{self.url}/sessions/{session_id}/status", json=body, status=http_status)

    def status_error(self, session_id: str, http_status: int, body: Any = None) -> None:
        self.rsps.get(
            f"{self.url}/sessions/{session_id}/status",
            json=body if body is not None else {"error": "boom"},
            status=http_status,
        )

    def status_unreachable(self, session_id: str) -> None:
        self.rsps.get(
            f"{self.url}/sessions/{session_id}/status",
            body=requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
        )

    def create(self, http_status: int = 201, body: Any = None) -> None:
        self.rsps.post(
            f"{self.url}/sessions",
            json=body if body is not None else {"status": "connecting"},
            status=http_status,
        )

    def create_unreachable(self) -> None:
        self.rsps.post(
            f"{self.url}/sessions",
            body=requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
        )

    def qr(self, session_id: str, text: str | None = "qr-text-1") -> None:
        if text is None:
            self.rsps.get(
                f"{self.url}/sessions/{session_id}/qr", json={"error": "no QR"}, status=404
            )
        else:
            self.rsps.get(f"{self.url}/sessions/{session_id}/qr", json={"qr": text})

    def qr_any(self, text: str = "qr-text-1") -> None:
        self.rsps.get(re.compile(rf"{self.url}/sessions/[^/]+/qr"), json={"qr": text})

    def delete(self, session_id: str, http_status: int = 200) -> None:
        self.rsps.delete(f"{self.url}/sessions/{session_id}", json={}, status=http_status)

    def calls(self, method: str | None = None) -> list:
        return [c for c in self.rsps.calls if method is None or c.request.method == method]


@pytest.fixture
def gateway(mocked_gateway: responses.RequestsMock) -> GatewayMock:
    return GatewayMock(mocked_gateway)
