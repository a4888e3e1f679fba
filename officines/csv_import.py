"""CSV import of officines: decode, parse, check every row, then write everything in one transaction.

The file is judged as a whole before anything is written: a file with errors imports
nothing, unless the user explicitly asks for the valid rows only. Rows are checked with
the model's own rules (`Officine.full_clean`, minus the per-row database look-ups, which
are replaced by one query loading the editor's FINESS and one loading its card numbers).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from officines import finess_rules, identifiers
from officines.models import (
    GEO_IS_ANOTHER_JURIDIQUE,
    JURIDIQUE_IS_ANOTHER_GEO,
    DelegationMode,
    Habilitation,
    ImportMode,
    ImportStatus,
    Officine,
    OfficineHabilitation,
    OfficineImport,
    TechnicalAdministrator,
)
from portal.audit import audit_record
from portal.events import officine_changed_send

# Files up to this many data rows are checked and imported in the request; larger ones
# go to the worker with a progress bar.
SYNC_MAX_ROWS = 500
MAX_ROWS = 50_000
BATCH_SIZE = 1000
# What is kept for display: the first preview rows and the first errors.
PREVIEW_ROWS = 200
STORED_ERRORS = 1000
PROGRESS_EVERY = 1000

ADMINISTRATOR_CARD = "administrator_card"

# Column key -> accepted header spellings (compared after `_normalize_header`).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "finess": ("finess", "finess geographique", "finess geo", "numero finess", "finess et"),
    "finess_juridique": ("finess juridique", "finess ej", "finess entite juridique"),
    "raison_sociale": ("raison sociale", "denomination", "nom"),
    "address": ("adresse", "address", "adresse postale", "rue"),
    "postal_code": ("code postal", "cp", "postal code", "zip"),
    "city": ("ville", "commune", "city", "localite"),
    "notification_email": (
        "e mail de notification",
        "email de notification",
        "e mail notification",
        "email notification",
        "notification e mail",
        "notification email",
        "courriel de notification",
        "courriel",
        "e mail",
        "email",
    ),
    "cc_email": (
        "e mail en copie",
        "email en copie",
        "e mail cc",
        "email cc",
        "cc e mail",
        "cc email",
        "cc",
        "copie",
        "e mail d une personne a informer",
        "email d une personne a informer",
        "personne a informer",
        "person to inform",
        "person to inform e mail",
    ),
    "delegation_mode": ("mode de delegation", "delegation mode", "delegation", "mode"),
    ADMINISTRATOR_CARD: (
        "carte de l administrateur technique",
        "carte administrateur technique",
        "numero de carte de l administrateur technique",
        "numero de carte administrateur technique",
        "carte de l administrateur",
        "carte cpa",
        "carte cps",
        "numero de carte",
        "carte",
        "administrator card",
        "card number",
        "technical administrator card number",
        "technical administrator s card number",
    ),
}
REQUIRED_COLUMNS = ("finess", "raison_sociale")

# Header written in the template and in exports, in this order.
TEMPLATE_HEADER = (
    "FINESS géographique",
    "FINESS juridique",
    "Raison sociale",
    "Adresse",
    "Code postal",
    "Ville",
    "E-mail de notification",
    "E-mail en copie",
    "Mode de délégation",
    "Carte de l'administrateur technique",
)

# Fields an import may change on an existing officine.
MODEL_FIELDS = (
    "finess_juridique",
    "raison_sociale",
    "address",
    "postal_code",
    "city",
    "notification_email",
    "cc_email",
    "delegation_mode",
)
UPDATE_FIELDS = (*MODEL_FIELDS, "technical_administrator", "updated_at")

_DELEGATION_VALUES = {
    "editeur": DelegationMode.EDITEUR,
    "editor": DelegationMode.EDITEUR,
    "editeur delegue": DelegationMode.EDITEUR,
    "editor delegated": DelegationMode.EDITEUR,
    "delegue": DelegationMode.EDITEUR,
    "pharmacien": DelegationMode.PHARMACIEN,
    "pharmacist": DelegationMode.PHARMACIEN,
}


def column_label(key: str) -> str:
    """The (translated) name of a column, for error tables and headers."""
    if key == ADMINISTRATOR_CARD:
        return str(gettext_lazy("technical administrator's card number"))
    if key in ("", "row"):
        return str(gettext_lazy("row"))
    return str(Officine._meta.get_field(key).verbose_name)


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, separator, header): nothing is imported."""


class ImportRefused(ValueError):
    """The file has invalid rows and the user did not choose to import only the valid ones."""


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class PlannedRow:
    """One data row of the file and what the import will do with it."""

    row: int
    finess: str
    raison_sociale: str
    city: str
    action: str  # "create", "update", "unchanged" or "error"
    officine: Officine | None = None
    errors: list[RowError] = field(default_factory=list)
    # What the FINESS referential says (finess_rules): to confirm, or differences to show.
    warnings: list[str] = field(default_factory=list)
    differences: list[dict[str, str]] = field(default_factory=list)

    def as_preview(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "finess": self.finess,
            "raison_sociale": self.raison_sociale,
            "city": self.city,
            "action": self.action,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": self.warnings,
            "differences": self.differences,
        }


@dataclass
class ImportPlan:
    rows: list[PlannedRow]
    ignored_columns: list[str] = field(default_factory=list)

    def _count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def to_create(self) -> int:
        return self._count("create")

    @property
    def to_update(self) -> int:
        return self._count("update")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def invalid_rows(self) -> int:
        return self._count("error")

    @property
    def finess_warnings(self) -> int:
        """Rows to write whose FINESS the referential does not confirm (absent, closed...)."""
        return sum(1 for row in self.rows if row.warnings and row.action != "error")

    @property
    def errors(self) -> list[RowError]:
        return [error for row in self.rows for error in row.errors]


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int
    skipped: int


# ---------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------


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


def _normalize_header(value: str) -> str:
    """ "E-mail de notification" -> "e mail de notification": accents, case, punctuation ignored."""
    text = unicodedata.normalize("NFKD", value.replace("\ufeff", ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


_HEADER_LOOKUP = {
    alias: key
    for key, aliases in COLUMN_ALIASES.items()
    for alias in (*aliases, _normalize_header(key))
}


def detect_delimiter(text: str) -> str:
    """`;` (French Excel) or `,`, whichever the header line uses most."""
    for line in text.splitlines():
        if line.strip():
            return ";" if line.count(";") >= line.count(",") and ";" in line else ","
    return ";"


@dataclass
class ParsedFile:
    columns: list[str | None]  # column key per position, None when ignored
    ignored_columns: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells)


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


def parse_csv(text: str) -> ParsedFile:
    """Split the file into a mapped header and data rows; raise `CsvFileError` on a bad header."""
    header, rows = read_rows(text)
    columns: list[str | None] = []
    ignored: list[str] = []
    for name in header:
        key = _HEADER_LOOKUP.get(_normalize_header(name))
        if key is not None and key in columns:
            raise CsvFileError(_("The column “%(name)s” appears twice.") % {"name": name.strip()})
        if key is None and name.strip():
            ignored.append(name.strip())
        columns.append(key)
    missing = [key for key in REQUIRED_COLUMNS if key not in columns]
    if missing:
        raise CsvFileError(
            _(
                "Missing column(s): %(missing)s. The first line must name the columns, "
                "for example: %(expected)s."
            )
            % {
                "missing": ", ".join(column_label(key) for key in missing),
                "expected": "; ".join(TEMPLATE_HEADER),
            }
        )
    if not rows:
        raise CsvFileError(_("The file has a header but no officine."))
    return ParsedFile(columns=columns, ignored_columns=ignored, rows=rows)


def count_data_rows(text: str) -> int:
    """Rough row count (non-empty lines minus the header), to choose request or worker."""
    return max(sum(1 for line in text.splitlines() if line.strip()) - 1, 0)


# ---------------------------------------------------------------------------
# Checking rows
# ---------------------------------------------------------------------------


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {key: [str(m) for m in errors] for key, errors in exc.message_dict.items()}
    return {"": [str(m) for m in exc.messages]}


def _delegation_value(raw: str) -> str:
    return _DELEGATION_VALUES.get(_normalize_header(raw), raw)


def officines_import_plan(
    *, editor_id: int, text: str, on_progress: Callable[[int], None] | None = None
) -> ImportPlan:
    """Check every row against the model rules and the editor's data; write nothing.

    Two queries whatever the size: the editor's officines (by FINESS) and its
    technical administrators (by card number).
    """
    parsed = parse_csv(text)
    existing = {
        officine.finess: officine
        for officine in Officine.objects.of_editor(editor_id).only(
            "id",
            "editor_id",
            "finess",
            "environment",
            "department",
            *MODEL_FIELDS,
            "technical_administrator_id",
        )
    }
    # card number -> an unsaved stand-in (id, card type): the row's mode is checked against
    # the card type without one query per row (Officine.administrator_mismatch).
    administrators = {
        card: TechnicalAdministrator(pk=pk, card_type=card_type)
        for card, pk, card_type in TechnicalAdministrator.objects.of_editor(editor_id).values_list(
            "card_number", "id", "card_type"
        )
    }
    seen: dict[str, int] = {}
    planned: list[PlannedRow] = []
    # What the FINESS referential says of the new numbers (a few queries for the whole file).
    finess_column = parsed.columns.index("finess")
    new_numbers = [
        identifiers.normalize_finess(cells[finess_column])
        for _line, cells in parsed.rows
        if len(cells) > finess_column
    ]
    lookups = finess_rules.finess_lookups(n for n in new_numbers if n not in existing)
    juridiques = {o.finess_juridique: o for o in existing.values() if o.finess_juridique}
    for index, (line, cells) in enumerate(parsed.rows, start=1):
        planned.append(
            _plan_row(
                line=line,
                cells=cells,
                columns=parsed.columns,
                editor_id=editor_id,
                existing=existing,
                administrators=administrators,
                seen=seen,
                lookups=lookups,
                juridiques=juridiques,
            )
        )
        if on_progress is not None and index % PROGRESS_EVERY == 0:
            on_progress(index)
    if on_progress is not None:
        on_progress(len(planned))
    return ImportPlan(rows=planned, ignored_columns=parsed.ignored_columns)


def _geographic_juridique_errors(
    line: int, officine: Officine, existing: dict[str, Officine], juridiques: dict[str, Officine]
) -> list[RowError]:
    """`officines.services.check_geographic_vs_juridique` against the preloaded officines."""
    found = []
    other = juridiques.get(officine.finess)
    if officine.finess and other is not None and other.pk != officine.pk:
        found.append(
            RowError(
                line,
                "finess",
                str(GEO_IS_ANOTHER_JURIDIQUE) % {"finess": officine.finess, "officine": str(other)},
            )
        )
    other = existing.get(officine.finess_juridique)
    if officine.finess_juridique and other is not None and other.pk != officine.pk:
        found.append(
            RowError(
                line,
                "finess_juridique",
                str(JURIDIQUE_IS_ANOTHER_GEO)
                % {"finess": officine.finess_juridique, "officine": str(other)},
            )
        )
    return found


def _plan_row(
    *,
    line: int,
    cells: list[str],
    columns: list[str | None],
    editor_id: int,
    existing: dict[str, Officine],
    administrators: dict[str, TechnicalAdministrator],
    seen: dict[str, int],
    lookups: dict[str, finess_rules.FinessLookup] | None = None,
    juridiques: dict[str, Officine] | None = None,
) -> PlannedRow:
    values: dict[str, str] = {}
    for key, cell in zip(columns, cells, strict=False):
        if key is not None:
            values[key] = cell.strip()
    finess = identifiers.normalize_finess(values.get("finess", ""))
    planned = PlannedRow(
        row=line,
        finess=finess,
        raison_sociale=values.get("raison_sociale", ""),
        city=values.get("city", ""),
        action="create",
    )
    errors = planned.errors
    width = len(columns)
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        errors.append(
            RowError(line, "", _("This row has more cells than the header: check the separator."))
        )

    current = existing.get(finess)
    if current is not None:
        officine = Officine(
            **{f: getattr(current, f) for f in MODEL_FIELDS},
            id=current.pk,
            editor_id=editor_id,
            finess=current.finess,
            environment=current.environment,
            department=current.department,
            technical_administrator_id=current.technical_administrator_id,
        )
    else:
        officine = Officine(editor_id=editor_id, finess=finess)

    # Empty cells keep the current value of an existing officine (defaults for a new one).
    for key in MODEL_FIELDS:
        raw = values.get(key, "")
        if raw:
            setattr(officine, key, _delegation_value(raw) if key == "delegation_mode" else raw)
    if current is None and not officine.delegation_mode:
        officine.delegation_mode = DelegationMode.EDITEUR

    card = "".join(values.get(ADMINISTRATOR_CARD, "").split())
    if card:
        administrator = administrators.get(card)
        if administrator is None:
            errors.append(
                RowError(
                    line,
                    ADMINISTRATOR_CARD,
                    _("No technical administrator of your organisation has the card %(card)s.")
                    % {"card": card},
                )
            )
        else:
            officine.technical_administrator = administrator

    lookup = (lookups or {}).get(finess) if current is None else None
    if lookup is not None:
        if lookup.refused:
            errors.append(RowError(line, "finess", lookup.message()))
        elif lookup.needs_confirmation:
            planned.warnings.append(lookup.message())
        else:
            planned.differences = finess_rules.differences(officine, lookup)
            finess_rules.fill_blanks(officine, lookup)
            planned.raison_sociale = officine.raison_sociale
            planned.city = officine.city

    try:
        # The model rules, without the per-row queries (foreign keys and uniqueness are
        # checked above against the preloaded data).
        officine.full_clean(
            exclude=["editor", "technical_administrator"],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        for key, messages in _messages(exc).items():
            errors.extend(RowError(line, key if key != "__all__" else "", m) for m in messages)

    errors.extend(_geographic_juridique_errors(line, officine, existing, juridiques or {}))

    if finess and finess in seen:
        errors.append(
            RowError(
                line,
                "finess",
                _("This FINESS is already on line %(line)d of the file.") % {"line": seen[finess]},
            )
        )
    elif finess:
        seen[finess] = line

    if errors:
        planned.action = "error"
        return planned
    planned.officine = officine
    if current is not None:
        changed = any(
            getattr(officine, f) != getattr(current, f)
            for f in (*MODEL_FIELDS, "technical_administrator_id")
        )
        planned.action = "update" if changed else "unchanged"
    return planned


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def officines_import_write(
    *,
    editor_id: int,
    plan: ImportPlan,
    mode: str = ImportMode.ALL,
    actor: Any = None,
    target: Any = None,
    confirm_finess: bool = False,
) -> ImportResult:
    """Create and update the planned officines in one transaction (batches of 1000).

    Raises `ImportRefused` when rows are invalid and `mode` is not "valid_only", or when
    new officines have a FINESS the referential does not confirm and `confirm_finess` is off.
    """
    if plan.invalid_rows and mode != ImportMode.VALID_ONLY:
        raise ImportRefused(
            ngettext(
                "%(count)d row has errors: nothing was imported.",
                "%(count)d rows have errors: nothing was imported.",
                plan.invalid_rows,
            )
            % {"count": plan.invalid_rows}
        )
    if plan.finess_warnings and not confirm_finess:
        raise ImportRefused(finess_warning_message(plan.finess_warnings))
    creates = [row.officine for row in plan.rows if row.action == "create"]
    updates = [row.officine for row in plan.rows if row.action == "update"]
    now = timezone.now()
    for officine in updates:
        officine.updated_at = now
    with transaction.atomic():
        replacements = _hold_replaced_administrators(updates)
        renamed = _identity_changes(updates)
        Officine.objects.bulk_create(creates, batch_size=BATCH_SIZE)
        _update_rows(editor_id, updates)
        _attach_administrators(editor_id, [*creates, *updates], replacements, actor)
        officine_changed_send(officine_ids=renamed, change="identity")
        result = ImportResult(
            created=len(creates),
            updated=len(updates),
            unchanged=plan.unchanged,
            skipped=plan.invalid_rows,
        )
        audit_record(
            action="officine.import",
            actor=actor,
            editor=editor_id,
            target=target,
            details={
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "skipped": result.skipped,
                "mode": str(mode),
            },
        )
    return result


def finess_warning_message(count: int) -> str:
    return ngettext(
        "%(count)d new officine has a FINESS the referential does not confirm (absent, "
        "closed or not a pharmacie d'officine): check it, then confirm to import.",
        "%(count)d new officines have a FINESS the referential does not confirm (absent, "
        "closed or not a pharmacie d'officine): check them, then confirm to import.",
        count,
    ) % {"count": count}


def _identity_changes(updates: list[Officine]) -> list[int]:
    """Officines whose raison sociale or département the file changes (one query): their live
    certificates no longer match them (`portal.events.officine_changed`)."""
    if not updates:
        return []
    before = {
        pk: (name, department)
        for pk, name, department in Officine.objects.filter(
            pk__in=[o.pk for o in updates]
        ).values_list("pk", "raison_sociale", "department")
    }
    return [
        o.pk
        for o in updates
        if before.get(o.pk, (o.raison_sociale, o.department))
        != (
            o.raison_sociale,
            o.department,
        )
    ]


def _hold_replaced_administrators(updates: list[Officine]) -> dict[int, list[Officine]]:
    """Rows that replace an officine's administrator by one not attached to it keep the old
    one for now: the replacement is a form 503, requested after the write (two queries)."""
    chosen = {o.pk: o.technical_administrator_id for o in updates if o.technical_administrator_id}
    if not chosen:
        return {}
    previous = dict(
        Officine.objects.filter(pk__in=list(chosen)).values_list("pk", "technical_administrator_id")
    )
    attached = set(
        OfficineHabilitation.objects.filter(officine_id__in=list(chosen))
        .exclude(state=Habilitation.REVOKED)
        .values_list("officine_id", "administrator_id")
    )
    replacements: dict[int, list[Officine]] = {}
    for officine in updates:
        new, old = chosen.get(officine.pk), previous.get(officine.pk)
        if new and old and new != old and (officine.pk, new) not in attached:
            officine.technical_administrator_id = old
            replacements.setdefault(new, []).append(officine)
    return replacements


def _attach_administrators(
    editor_id: int,
    officines: list[Officine],
    replacements: dict[int, list[Officine]],
    actor: Any,
) -> None:
    """Habilitation rows for the administrators set by the file, and one pending form 503 per
    new administrator replacing another (`officines.administrator_changes`)."""
    from officines.administrator_changes import administrator_change_request
    from officines.habilitations import habilitations_ensure

    habilitations_ensure(
        (editor_id, o.pk, o.technical_administrator_id)
        for o in officines
        if o.technical_administrator_id
    )
    if not replacements:
        return
    administrators = TechnicalAdministrator.objects.of_editor(editor_id).in_bulk(list(replacements))
    for admin_id, group in replacements.items():
        try:
            administrator_change_request(
                officines=group, new_administrator=administrators[admin_id], actor=actor
            )
        except ValidationError as exc:
            raise ImportRefused(" ".join(exc.messages)) from exc


def _update_rows(editor_id: int, officines: list[Officine]) -> None:
    """One parametrised UPDATE per row, sent with executemany in batches.

    `QuerySet.bulk_update` builds a CASE expression per field and spends ~4 ms of Python
    per row (80 s for 20,000 rows); executemany is a few seconds (bench/bench_officine_import.py).
    """
    if not officines:
        return
    if connection.vendor == "postgresql":
        _update_rows_from_values(editor_id, officines)
        return
    meta = Officine._meta
    fields = [meta.get_field(name) for name in UPDATE_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Table and column names come from the model, values are parameters.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(meta.pk.column)} = %s AND {quote('editor_id')} = %s"
    )
    params = [
        [f.get_db_prep_save(getattr(officine, f.attname), connection) for f in fields]
        + [officine.pk, editor_id]
        for officine in officines
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(params), BATCH_SIZE):
            cursor.executemany(sql, params[start : start + BATCH_SIZE])


def _update_rows_from_values(editor_id: int, officines: list[Officine]) -> None:
    """PostgreSQL: one `UPDATE ... FROM (VALUES ...)` per batch of 1,000 rows.

    20,000 single-row UPDATEs (executemany) took 47-67 s on the bench database, each
    slower than the last; one statement per batch takes ~3 s (BENCHMARKS.md).
    """
    meta = Officine._meta
    fields = [meta.get_field(name) for name in UPDATE_FIELDS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
    # The first row carries the column types (VALUES would otherwise type them as text).
    typed = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ", %s::bigint)"
    plain = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(officines), BATCH_SIZE):
            batch = officines[start : start + BATCH_SIZE]
            values = ", ".join([typed, *[plain] * (len(batch) - 1)])
            params: list[Any] = []
            for officine in batch:
                params += [
                    f.get_db_prep_save(getattr(officine, f.attname), connection) for f in fields
                ]
                params.append(officine.pk)
            # Table and column names come from the model, values are parameters.
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} AS o SET {assignments} "  # noqa: S608
                f"FROM (VALUES {values}) AS v({columns}, id) "
                f"WHERE o.{quote(meta.pk.column)} = v.id AND o.{quote('editor_id')} = %s",
                [*params, editor_id],
            )


def officines_import_rows(
    *,
    editor_id: int,
    text: str,
    mode: str = ImportMode.ALL,
    actor: Any = None,
    on_progress: Callable[[int], None] | None = None,
    confirm_finess: bool = False,
) -> ImportResult:
    """Check the whole file, then write it; nothing is written if a row is wrong (mode "all")."""
    plan = officines_import_plan(editor_id=editor_id, text=text, on_progress=on_progress)
    return officines_import_write(
        editor_id=editor_id, plan=plan, mode=mode, actor=actor, confirm_finess=confirm_finess
    )


# ---------------------------------------------------------------------------
# Stored imports (upload -> preview -> confirm), used by the views and the worker
# ---------------------------------------------------------------------------


def officine_import_create(
    *, editor_id: int, actor: Any, data: bytes, filename: str = ""
) -> OfficineImport:
    """Store an uploaded file after the checks that need no row work (size, encoding, header)."""
    if len(data) > settings.MAX_UPLOAD_SIZE:
        raise CsvFileError(
            _("The file is too large (%(size)s; at most %(max)s).")
            % {"size": filesizeformat(len(data)), "max": filesizeformat(settings.MAX_UPLOAD_SIZE)}
        )
    text = decode_csv(data)
    parse_csv(text)  # header and syntax errors are reported at once, before storing anything
    return OfficineImport.objects.create(
        editor_id=editor_id,
        created_by=actor if getattr(actor, "pk", None) else None,
        filename=filename[:255],
        content=text,
        status=ImportStatus.VALIDATING,
        total=count_data_rows(text),
    )


def runs_in_worker(officine_import: OfficineImport) -> bool:
    return officine_import.total > SYNC_MAX_ROWS


def _progress_writer(import_id: int) -> Callable[[int], None]:
    def write(processed: int) -> None:
        OfficineImport.objects.filter(pk=import_id).update(processed=processed)

    return write


def _language_of(officine_import: OfficineImport) -> str:
    user = officine_import.created_by
    return getattr(user, "language", None) or settings.LANGUAGE_CODE


def _run_stored(
    import_id: int,
    status: str,
    then: Callable[[OfficineImport, ImportPlan], OfficineImport | None],
) -> OfficineImport | None:
    """Check the file of an import still in `status` (in its uploader's language, feeding the
    progress bar), then `then(import, plan)`; a file that cannot be read fails the import."""
    officine_import = (
        OfficineImport.objects.select_related("created_by").filter(pk=import_id).first()
    )
    if officine_import is None or officine_import.status != status:
        return officine_import
    with translation.override(_language_of(officine_import)):
        try:
            plan = officines_import_plan(
                editor_id=officine_import.editor_id,
                text=officine_import.content,
                on_progress=_progress_writer(import_id),
            )
        except CsvFileError as exc:
            return _fail(import_id, str(exc))
        return then(officine_import, plan)


def officine_import_validate(*, import_id: int) -> OfficineImport | None:
    """Check a stored file and keep the preview; safe to run twice (only from "validating")."""
    return _run_stored(import_id, ImportStatus.VALIDATING, _keep_preview)


def _keep_preview(officine_import: OfficineImport, plan: ImportPlan) -> OfficineImport:
    _store_plan(officine_import, plan)
    officine_import.status = ImportStatus.VALIDATED
    officine_import.save()
    return officine_import


def _store_plan(officine_import: OfficineImport, plan: ImportPlan) -> None:
    errors = plan.errors
    officine_import.total = plan.total
    officine_import.processed = plan.total
    officine_import.to_create = plan.to_create
    officine_import.to_update = plan.to_update
    officine_import.unchanged = plan.unchanged
    officine_import.invalid_rows = plan.invalid_rows
    officine_import.error_count = len(errors)
    officine_import.errors = [e.as_dict() for e in errors[:STORED_ERRORS]]
    officine_import.preview = {
        **officine_import.preview,
        "rows": [row.as_preview() for row in plan.rows[:PREVIEW_ROWS]],
        "ignored_columns": plan.ignored_columns,
        "finess_warnings": plan.finess_warnings,
    }


def officine_import_confirm(
    *, officine_import: OfficineImport, valid_only: bool, confirm_finess: bool = False
) -> bool:
    """Move a checked import to "importing"; False if it was not waiting for confirmation."""
    warnings = (officine_import.preview or {}).get("finess_warnings", 0)
    if warnings and not confirm_finess:
        raise ImportRefused(finess_warning_message(warnings))
    if officine_import.invalid_rows and not valid_only:
        raise ImportRefused(
            ngettext(
                "%(count)d row has errors: correct the file, or choose to import the valid "
                "rows only.",
                "%(count)d rows have errors: correct the file, or choose to import the valid "
                "rows only.",
                officine_import.invalid_rows,
            )
            % {"count": officine_import.invalid_rows}
        )
    mode = ImportMode.VALID_ONLY if valid_only else ImportMode.ALL
    claimed = OfficineImport.objects.filter(
        pk=officine_import.pk, status=ImportStatus.VALIDATED
    ).update(
        status=ImportStatus.IMPORTING,
        mode=mode,
        processed=0,
        preview={**(officine_import.preview or {}), "finess_confirmed": confirm_finess},
    )
    if claimed:
        officine_import.status = ImportStatus.IMPORTING
        officine_import.mode = mode
        officine_import.processed = 0
    return bool(claimed)


def officine_import_apply(*, import_id: int) -> OfficineImport | None:
    """Check the stored file again (data may have changed since the preview), then write it.

    Safe to run twice: the import row is locked and only an "importing" import is written.
    """
    return _run_stored(import_id, ImportStatus.IMPORTING, _write_plan)


def _write_plan(officine_import: OfficineImport, plan: ImportPlan) -> OfficineImport | None:
    import_id = officine_import.pk
    try:
        with transaction.atomic():
            locked = OfficineImport.objects.select_for_update().get(pk=import_id)
            if locked.status != ImportStatus.IMPORTING:
                return locked
            result = officines_import_write(
                editor_id=locked.editor_id,
                plan=plan,
                mode=locked.mode,
                actor=officine_import.created_by,
                target=locked,
                confirm_finess=bool((locked.preview or {}).get("finess_confirmed")),
            )
            _store_plan(locked, plan)
            locked.created_count = result.created
            locked.updated_count = result.updated
            locked.status = ImportStatus.DONE
            locked.finished_at = timezone.now()
            locked.save()
            return locked
    except ImportRefused as exc:
        failed = _fail(import_id, str(exc))
        if failed is not None:
            _store_plan(failed, plan)
            failed.save()
        return failed
    except IntegrityError:
        return _fail(
            import_id,
            _("Officines were changed while importing: nothing was imported, start again."),
        )


def _fail(import_id: int, message: str) -> OfficineImport | None:
    OfficineImport.objects.filter(pk=import_id).update(
        status=ImportStatus.FAILED, failure=message[:255], finished_at=timezone.now()
    )
    return OfficineImport.objects.filter(pk=import_id).first()


def template_rows() -> Iterable[list[str]]:
    """Header and one example row for the downloadable template."""
    yield list(TEMPLATE_HEADER)
    yield [
        "760021832",
        "",
        "PHARMACIE DU VIEUX MARCHÉ",
        "12 place du Vieux-Marché",
        "76000",
        "Rouen",
        "officine@example.fr",
        "",
        "editeur",
        "",
    ]
