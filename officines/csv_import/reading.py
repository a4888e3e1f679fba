"""Reading an uploaded CSV file into rows: decoding, separator, header spelling, row errors.

Shared by the officines import and the pharmacists import (`officines.pharmacist_import`).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

MAX_ROWS = 50_000


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, separator, header): nothing is imported."""


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


def decode_csv(data: bytes) -> str:
    """Text of an uploaded CSV: UTF-8 (with or without BOM), else Windows-1252 (Excel in France)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvFileError(_("This file is in UTF-16: save it as CSV in UTF-8 or Windows-1252."))
    if b"\x00" in data:
        raise CsvFileError(_("This is not a CSV text file."))
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFileError(_("The file says it is UTF-8 but is not.")) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise CsvFileError(
            _("The file encoding is not recognised: save it as CSV in UTF-8 or Windows-1252.")
        ) from exc


def normalize_header(value: str) -> str:
    """ "E-mail de notification" -> "e mail de notification": accents, case, punctuation ignored."""
    text = unicodedata.normalize("NFKD", value.replace("\ufeff", ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def detect_delimiter(text: str) -> str:
    """`;` (French Excel) or `,`, whichever the header line uses most."""
    for line in text.splitlines():
        if line.strip():
            return ";" if line.count(";") >= line.count(",") and ";" in line else ","
    return ";"


def read_rows(
    text: str, *, max_rows: int = MAX_ROWS
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-empty data rows (line number, cells) of a CSV text; raise
    `CsvFileError` on an unreadable line, too many rows or an empty file."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=detect_delimiter(text), strict=True
    )
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = cells
                continue
            rows.append((reader.line_num, cells))
            if len(rows) > max_rows:
                raise CsvFileError(
                    _("The file has more than %(max)d rows: split it into several files.")
                    % {"max": max_rows}
                )
    except csv.Error as exc:
        raise CsvFileError(
            _("Line %(line)d cannot be read (%(error)s).") % {"line": reader.line_num, "error": exc}
        ) from exc
    if header is None:
        raise CsvFileError(_("The file is empty."))
    return header, rows


def count_data_rows(text: str) -> int:
    """Rough row count (non-empty lines minus the header), to choose request or worker."""
    return max(sum(1 for line in text.splitlines() if line.strip()) - 1, 0)
