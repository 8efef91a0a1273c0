"""CSV downloads that are safe to open in a spreadsheet.

Group names, member ids and gateway errors come from outside. A cell that starts with `=`, `+`,
`-` or `@` (or a tab or carriage return, which some spreadsheets skip before reading a formula)
would run as a formula when the file is opened ("CSV injection"): such cells get a leading `'`,
which spreadsheets show as text. Phone numbers are exported as digits, so they need no prefix.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One cell as text: times in the current time zone (ISO 8601 with the offset), None as
    empty, anything that a spreadsheet would read as a formula prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.isoformat(timespec="seconds")
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_filename(*parts: str) -> str:
    """An ASCII file name from `parts` ("Tour news", "results") → "tour-news-results.csv"."""
    words = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)
    words = re.sub(r"-{2,}", "-", words).strip("-")[:80] or "export"
    return f"{words}.csv"


def csv_response(
    *, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> HttpResponse:
    """A `text/csv` download (UTF-8 with a byte order mark, which Excel needs for non-ASCII)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow([csv_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return response
