from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """An error a user must see: a message, plus details for the API and the page."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
