"""The JSON parser named in `REST_FRAMEWORK` settings. DRF imports it while `rest_framework.views`
is still loading, so it lives apart from the rest of the DRF core (`api.py`)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but JSON nested deeper than Python's recursion limit (50,000 "[")
    is a 400 like any other malformed body, not a RecursionError and a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply.")
