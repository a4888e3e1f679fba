"""Streaming CSV downloads for Excel users: UTF-8 with BOM, ";" separator, formulas neutralised."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

# Full-width = + - @ | too (spreadsheets read U+FF1D "1+1" as a formula), and "|" (DDE).
_FORMULA_STARTS = (
    *("=", "+", "-", "@", "\t", "\r", "|"),
    *("\uff1d", "\uff0b", "\uff0d", "\uff20", "\uff5c"),
)


class _Echo:
    """A file-like object whose write returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def spreadsheet_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula is run by spreadsheets (CSV injection): make it text.
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo(), delimiter=";", lineterminator="\r\n")
    yield "\ufeff"
    for row in rows:
        yield writer.writerow([spreadsheet_cell(value) for value in row])


def csv_response(filename: str, rows: Iterable[Iterable[object]]) -> StreamingHttpResponse:
    """Stream `rows` (header first) without building the file in memory."""
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in csv_lines(rows)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
