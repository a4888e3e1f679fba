"""Checking the rows of an officines CSV against the model rules and the editor's data: the plan.

Nothing is written: every row gets its action ("create", "update", "unchanged" or "error").
Rows are checked with the model's own rules (`Officine.full_clean`, minus the per-row
database look-ups, which are replaced by one query loading the editor's FINESS and one
loading its card numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from officines import finess_rules, identifiers
from officines.csv_import.columns import ADMINISTRATOR_CARD, MODEL_FIELDS, parse_csv
from officines.csv_import.reading import RowError, normalize_header
from officines.models import (
    GEO_IS_ANOTHER_JURIDIQUE,
    JURIDIQUE_IS_ANOTHER_GEO,
    DelegationMode,
    Officine,
    TechnicalAdministrator,
)

PROGRESS_EVERY = 1000

_DELEGATION_VALUES = {
    "editeur": DelegationMode.EDITEUR,
    "editor": DelegationMode.EDITEUR,
    "editeur delegue": DelegationMode.EDITEUR,
    "editor delegated": DelegationMode.EDITEUR,
    "delegue": DelegationMode.EDITEUR,
    "pharmacien": DelegationMode.PHARMACIEN,
    "pharmacist": DelegationMode.PHARMACIEN,
}


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


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {key: [str(m) for m in errors] for key, errors in exc.message_dict.items()}
    return {"": [str(m) for m in exc.messages]}


def _delegation_value(raw: str) -> str:
    return _DELEGATION_VALUES.get(normalize_header(raw), raw)


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
