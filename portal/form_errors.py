"""The one way a service's ValidationError reaches a page: on the form, or as messages."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError


def apply_service_errors(
    form: forms.Form,
    exc: ValidationError,
    fields_map: Mapping[str, str] | None = None,
    *,
    default_field: str | None = None,
) -> None:
    """Put a service's ValidationError on the form: on the field when the form has it
    (`fields_map` renames service fields to form fields), else as a form-wide error; an
    error that names no field goes on `default_field` when given."""
    fields_map = fields_map or {}
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(default_field, message)
        return
    for field, errors in exc.error_dict.items():
        target = fields_map.get(field, field)
        for error in errors:
            for message in ValidationError(error).messages:
                form.add_error(target if target in form.fields else None, message)


def service_messages(exc: ValidationError) -> list[str]:
    """Every message of a service error, once each, in order (for `messages.error`)."""
    seen: dict[str, None] = {}
    for message in exc.messages:
        seen.setdefault(str(message), None)
    return list(seen)
