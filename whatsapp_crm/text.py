"""Text as the database can store it: one rule for every place that stores outside text.

Postgres `text` and `jsonb` refuse NUL characters, and UTF-8 cannot encode lone surrogates
(which JSON's "\\udXXX" escapes can produce). Both become U+FFFD, the replacement character,
so that a reader can still see that something was there.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


def _unstorable(ch: str) -> bool:
    return ch == "\x00" or "\ud800" <= ch <= "\udfff"


def db_safe_text(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD; other text unchanged."""
    if any(_unstorable(ch) for ch in text):
        return "".join(REPLACEMENT if _unstorable(ch) else ch for ch in text)
    return text


def db_safe_json(value: Any) -> Any:
    """A decoded JSON value with every string (keys too) passed through `db_safe_text`."""
    if isinstance(value, str):
        return db_safe_text(value)
    if isinstance(value, dict):
        return {db_safe_json(k): db_safe_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [db_safe_json(v) for v in value]
    return value


def db_safe_bytes(raw: bytes, *, limit: int) -> str:
    """The first `limit` bytes of a raw body as storable text (bad UTF-8 becomes U+FFFD)."""
    return db_safe_text(raw[:limit].decode("utf-8", "replace"))


def short_text(text: str, limit: int = 300) -> str:
    """`text` cut to `limit` characters with "…" where it was cut (toasts, error summaries)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
