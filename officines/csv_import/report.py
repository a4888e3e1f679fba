"""What a stored officines import keeps of its checked file for its page: counts, errors, preview."""

from __future__ import annotations

from officines.csv_import.plan import ImportPlan
from officines.models import OfficineImport

# What is kept for display: the first preview rows and the first errors.
PREVIEW_ROWS = 200
STORED_ERRORS = 1000


def plan_store(officine_import: OfficineImport, plan: ImportPlan) -> None:
    """Counts, first errors and first preview rows of `plan` on the import (not saved)."""
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
