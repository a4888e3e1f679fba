"""Field-keyed ValidationErrors: the one error shape every ordering check raises."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def field_error(field: str, message: str, code: str, params: dict | None = None) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code, params=params)})


def merge_errors(errors: dict[str, list[ValidationError]], exc: ValidationError) -> None:
    for field, messages in exc.error_dict.items():
        errors.setdefault(field, []).extend(messages)
