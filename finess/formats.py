"""Reading the two published FINESS layouts as a stream of établissements; no database here.

1. The historical CSV « FINESS Extraction du Fichier des établissements » (data.gouv.fr,
   dataset `finess-extraction-du-fichier-des-etablissements`, resources `etalab-cs1100502-stock`
   and `etalab-cs1100507-stock` with geolocation): `;`-separated, no column names, Windows-1252
   (Latin-1) historically and UTF-8 in recent files. Line 1 is `finess;etalab;<n>;<YYYY-MM-DD>`
   (the extraction date), then one `structureet` line per établissement (field order in
   `STRUCTUREET_FIELDS`) and, in the geolocated resource, one `geolocalisation` line each.
2. The FiNESS+ JSON « structures » flow (ANS, `ansforge/finess`, schema vendored in
   `finess/schema/`): `{"schemaVersion", "generatedAt", "gcc": [...], "gco": [...],
   "pmej": [{informationsGeneralesPMEJ, ..., "ege": [...]}]}`, read with ijson so the file is
   never held in memory, every `pmej`/`gco`/`gcc` entry validated against the schema.

Anything else is refused with a `LayoutError` naming the first difference found.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

CSV = "csv"
JSON = "json"
PHARMACIE_OFFICINE = "620"
CATEGORY_LABELS = {PHARMACIE_OFFICINE: "Pharmacie d'Officine"}

HEADER_START = ("finess", "etalab")
# Fields of a `structureet` line after the section name, in the published order.
STRUCTUREET_FIELDS = (
    "nofinesset",
    "nofinessej",
    "rs",
    "rslongue",
    "complrs",
    "compldistrib",
    "numvoie",
    "typvoie",
    "voie",
    "compvoie",
    "lieuditbp",
    "commune",
    "departement",
    "libdepartement",
    "ligneacheminement",
    "telephone",
    "telecopie",
    "categetab",
    "libcategetab",
    "categagretab",
    "libcategagretab",
    "siret",
    "codeape",
    "codemft",
    "libmft",
    "codesph",
    "libsph",
    "dateouv",
    "dateautor",
    "datemaj",
    "numuai",
)
GEOLOCALISATION_FIELDS = ("nofinesset", "coordxet", "coordyet", "sourcecoordet", "datemaj")
_I = {name: index + 1 for index, name in enumerate(STRUCTUREET_FIELDS)}  # +1: the section

FINESS_RE = re.compile(r"[0-9][0-9AB][0-9]{7}")
CATEGORY_RE = re.compile(r"[0-9]{3,4}")
JSON_ITEMS = ("pmej", "gco", "gcc")
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "schema-structures-v1.json"


class LayoutError(ValueError):
    """The file is not in a published FINESS layout (or is truncated): nothing is loaded."""


@dataclass(slots=True)
class Record:
    """One établissement (entité géographique) as the referential stores it."""

    finess: str
    finess_juridique: str
    raison_sociale: str
    raison_sociale_longue: str
    address: str
    postal_code: str
    city: str
    department: str
    category: str
    category_label: str
    is_open: bool
    opened_on: date | None
    closed_on: date | None
    updated_on: date | None


def parse_date(value: str) -> date | None:
    """`2020-02-04`, `2020-02-04 00:00:00` or `04/02/2020`; empty -> None; else ValueError."""
    value = value.strip()
    if not value:
        return None
    if "/" in value:
        return datetime.strptime(value, "%d/%m/%Y").date()
    return date.fromisoformat(value[:10])


def _words(*parts: str) -> str:
    return " ".join(" ".join(parts).split())


def detect_format(head: bytes) -> str:
    """`json` when the first non-blank byte opens an object, else `csv` (checked further)."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return JSON if stripped.startswith(b"{") else CSV


class Extract:
    """A FINESS file being read: `records()` yields établissements, then `data_date`,
    `file_format` and the counts are known. Errors raise `LayoutError`."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        head = stream.peek(64) if hasattr(stream, "peek") else b""
        if not head:
            head = stream.read(64)
            stream.seek(0)
        self.file_format = detect_format(head)
        self.data_date: date | None = None
        self.version = ""
        self.count = 0

    def records(self) -> Iterator[Record]:
        if self.file_format == JSON:
            yield from self._json_records()
        else:
            yield from self._csv_records()

    # ------------------------------------------------------------------ CSV

    def _decoded_lines(self) -> Iterator[str]:
        """Lines as text: the first non-ASCII line decides UTF-8 or Windows-1252 (Latin-1)."""
        encoding: str | None = None
        self.last_line_complete = True
        for number, raw in enumerate(self.stream, start=1):
            self.last_line_complete = raw.endswith(b"\n")
            if raw.isascii():
                yield raw.decode("ascii")
                continue
            if encoding is None:
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                    encoding = "utf-8"
                except UnicodeDecodeError:
                    encoding = "cp1252"
                else:
                    yield text
                    continue
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError:
                if encoding == "utf-8":
                    raise LayoutError(
                        _("Line %(line)d is not UTF-8 although the lines before it are.")
                        % {"line": number}
                    ) from None
                yield raw.decode("latin-1")

    def _csv_records(self) -> Iterator[Record]:
        lines = self._decoded_lines()
        reader = csv.reader(lines, delimiter=";")
        try:
            header = next(reader)
        except StopIteration:
            raise LayoutError(_("The file is empty.")) from None
        except UnicodeDecodeError as exc:
            raise LayoutError(_("Line 1 cannot be decoded (%(error)s).") % {"error": exc}) from None
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        if tuple(header[:2]) != HEADER_START:
            raise LayoutError(
                _(
                    "Line 1: expected the header “finess;etalab;…;<extraction date>” of the "
                    "FINESS extract, found “%(found)s”."
                )
                % {"found": ";".join(header)[:80]}
            )
        self.version = header[2] if len(header) > 2 else ""
        try:
            self.data_date = parse_date(header[3]) if len(header) > 3 else None
        except ValueError:
            raise LayoutError(
                _("Line 1: “%(value)s” is not an extraction date (YYYY-MM-DD).")
                % {"value": header[3][:40]}
            ) from None
        seen: set[str] = set()
        geolocated = 0
        width = len(STRUCTUREET_FIELDS) + 1
        for cells in reader:
            line = reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            section = cells[0]
            if section == "structureet":
                if len(cells) != width:
                    raise LayoutError(self._width_message(line, cells, width))
                record = self._csv_record(line, cells)
                if record.finess in seen:
                    raise LayoutError(
                        _("Line %(line)d: the FINESS %(finess)s appears twice.")
                        % {"line": line, "finess": record.finess}
                    )
                seen.add(record.finess)
                self.count += 1
                yield record
            elif section == "geolocalisation":
                if len(cells) != len(GEOLOCALISATION_FIELDS) + 1:
                    raise LayoutError(
                        self._width_message(line, cells, len(GEOLOCALISATION_FIELDS) + 1)
                    )
                geolocated += 1
            else:
                raise LayoutError(
                    _(
                        "Line %(line)d: unknown section “%(found)s” (expected “structureet” "
                        "or “geolocalisation”)."
                    )
                    % {"line": line, "found": section[:40]}
                )
        if not self.count:
            raise LayoutError(_("The file holds no “structureet” line: no établissement."))
        if geolocated and geolocated != self.count:
            raise LayoutError(
                _(
                    "The file is truncated: %(structures)d établissements but %(geo)d "
                    "“geolocalisation” lines."
                )
                % {"structures": self.count, "geo": geolocated}
            )

    def _width_message(self, line: int, cells: list[str], width: int) -> str:
        names = (
            "section",
            *(STRUCTUREET_FIELDS if cells[0] == "structureet" else GEOLOCALISATION_FIELDS),
        )
        if len(cells) < width:
            detail = _("field %(number)d “%(name)s” is missing") % {
                "number": len(cells) + 1,
                "name": names[len(cells)],
            }
        else:
            detail = _("unexpected field %(number)d “%(value)s”") % {
                "number": width + 1,
                "value": cells[width][:40],
            }
        message = _(
            "Line %(line)d: a “%(section)s” line has %(found)d fields, %(expected)d expected; "
            "%(detail)s."
        ) % {
            "line": line,
            "section": cells[0],
            "found": len(cells),
            "expected": width,
            "detail": detail,
        }
        if not getattr(self, "last_line_complete", True) and len(cells) < width:
            message += " " + _("The file is truncated (its last line is incomplete).")
        return message

    def _csv_record(self, line: int, c: list[str]) -> Record:
        finess = c[1].strip()
        juridique = c[2].strip()
        category = c[_I["categetab"]].strip()
        for name, value, pattern in (
            ("nofinesset", finess, FINESS_RE),
            ("nofinessej", juridique or "000000000", FINESS_RE),
            ("categetab", category, CATEGORY_RE),
        ):
            if not pattern.fullmatch(value):
                raise LayoutError(
                    _("Line %(line)d, field “%(name)s”: “%(value)s” is not valid.")
                    % {"line": line, "name": name, "value": value[:40]}
                )
        dates = {}
        for name in ("dateouv", "datemaj"):
            try:
                dates[name] = parse_date(c[_I[name]])
            except ValueError:
                raise LayoutError(
                    _("Line %(line)d, field “%(name)s”: “%(value)s” is not a date.")
                    % {"line": line, "name": name, "value": c[_I[name]][:40]}
                ) from None
        routing = c[_I["ligneacheminement"]].strip()
        postal_code, _sep, city = routing.partition(" ")
        if not (len(postal_code) == 5 and postal_code.isdigit()):
            postal_code, city = "", routing
        return Record(
            finess=finess,
            finess_juridique=juridique,
            raison_sociale=_words(c[_I["rs"]]),
            raison_sociale_longue=_words(c[_I["rslongue"]]),
            address=_words(c[_I["numvoie"]], c[_I["compvoie"]], c[_I["typvoie"]], c[_I["voie"]]),
            postal_code=postal_code,
            city=_words(city),
            department=c[_I["departement"]].strip(),
            category=category,
            category_label=_words(c[_I["libcategetab"]]),
            is_open=True,  # the extract lists open établissements only
            opened_on=dates["dateouv"],
            closed_on=None,
            updated_on=dates["datemaj"],
        )

    # ------------------------------------------------------------------ JSON

    def _json_records(self) -> Iterator[Record]:
        import ijson

        validators = _json_validators()
        seen_keys: set[str] = set()
        seen: set[str] = set()
        builder: Any = None
        item_key = ""
        index = {key: -1 for key in JSON_ITEMS}
        try:
            for prefix, event, value in ijson.parse(self.stream, use_float=True):
                if builder is not None:
                    builder.event(event, value)
                    if prefix == f"{item_key}.item" and event == "end_map":
                        item = builder.value
                        builder = None
                        self._validate(validators[item_key], item, item_key, index[item_key])
                        if item_key == "pmej":
                            for record in _pmej_records(item):
                                if record.finess in seen:
                                    raise LayoutError(
                                        _("pmej[%(index)d]: the FINESS %(finess)s appears twice.")
                                        % {"index": index["pmej"], "finess": record.finess}
                                    )
                                seen.add(record.finess)
                                self.count += 1
                                yield record
                    continue
                if prefix == "" and event == "map_key":
                    seen_keys.add(value)
                elif prefix in ("schemaVersion", "generatedAt"):
                    self._json_scalar(prefix, event, value)
                elif prefix in ("pmej.item", "gco.item", "gcc.item"):
                    item_key = prefix[:-5]
                    index[item_key] += 1
                    if event != "start_map":
                        raise LayoutError(
                            _("%(key)s[%(index)d]: an object is expected.")
                            % {"key": item_key, "index": index[item_key]}
                        )
                    builder = ijson.ObjectBuilder()
                    builder.event(event, value)
                elif prefix == "" and event not in ("start_map", "end_map"):
                    raise LayoutError(_("The JSON file must hold one object (FiNESS+ flow)."))
        except ijson.IncompleteJSONError as exc:
            raise LayoutError(
                _("The JSON file is truncated or malformed (%(error)s).")
                % {"error": str(exc)[:120]}
            ) from None
        except ijson.JSONError as exc:
            raise LayoutError(
                _("The JSON file is malformed (%(error)s).") % {"error": str(exc)[:120]}
            ) from None
        for key in ("schemaVersion", "generatedAt", "pmej"):
            if key not in seen_keys:
                raise LayoutError(
                    _("The JSON file lacks “%(key)s” (FiNESS+ structures schema).") % {"key": key}
                )

    def _json_scalar(self, key: str, event: str, value: Any) -> None:
        if event != "string":
            raise LayoutError(_("“%(key)s” must be a string.") % {"key": key})
        if key == "schemaVersion":
            self.version = value
            return
        try:
            self.data_date = datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            raise LayoutError(
                _("“generatedAt”: “%(value)s” is not a date-time.") % {"value": value[:40]}
            ) from None

    @staticmethod
    def _validate(validator: Any, item: Any, key: str, index: int) -> None:
        error = next(iter(validator.iter_errors(item)), None)
        if error is None:
            return
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise LayoutError(
            _("%(key)s[%(index)d]%(path)s does not follow the FiNESS+ schema: %(error)s")
            % {"key": key, "index": index, "path": path, "error": error.message[:200]}
        )


@cache
def _json_validators() -> dict[str, Any]:
    """One Draft 7 validator per array of the flow, on the published schema's item schemas."""
    from jsonschema import Draft7Validator

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validators = {}
    for key in JSON_ITEMS:
        item_schema = {**schema["properties"][key]["items"], "definitions": schema["definitions"]}
        validators[key] = Draft7Validator(item_schema)
    return validators


def _department_of_commune(cog: str) -> str:
    cog = cog.strip()
    return cog[:3] if cog.startswith("97") else cog[:2]


def _pmej_records(pmej: dict[str, Any]) -> Iterator[Record]:
    juridique = pmej["informationsGeneralesPMEJ"]["numFinessPm"].strip()
    for ege in pmej.get("ege", []):
        info = ege["informationsGeneralesEGE"]
        addresses = ege.get("adresse") or [{}]
        address = next((a for a in addresses if a.get("usageAdresse") == "03"), addresses[0])
        category = ege.get("categorieentiteGeographiqueExercice", "").strip()
        yield Record(
            finess=info["numFinessEge"].strip(),
            finess_juridique=juridique,
            raison_sociale=_words(info["nomEgeCourt"]),
            raison_sociale_longue=_words(info["nomEgeLong"]),
            address=_words(
                address.get("numeroVoie", ""),
                address.get("complementVoie", ""),
                address.get("typeVoie", ""),
                address.get("libelleVoie", ""),
            ),
            postal_code=address.get("codePostal", "").strip(),
            city=_words(address.get("ligneAcheminement", "")),
            department=_department_of_commune(address.get("cogCommune", "")),
            category=category,
            category_label=CATEGORY_LABELS.get(category, ""),
            is_open=ege["etatObjet"].strip() == "A",
            opened_on=_lenient_date(info.get("dateOuverture", "")),
            closed_on=_lenient_date(info.get("dateFermeture", "")),
            updated_on=_lenient_date(ege.get("dateDerniereMaj", "")),
        )


def _lenient_date(value: str) -> date | None:
    try:
        return parse_date(value)
    except ValueError:
        return None
