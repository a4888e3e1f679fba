"""Serializer fields whose OpenAPI shape DRF/drf-spectacular do not express by themselves."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(
    {"oneOf": [{"type": "string", "format": "email"}, {"type": "string", "enum": [""]}]}
)
class OptionalEmailField(serializers.EmailField):
    """An e-mail address or "" (blank model fields): "" is not a valid `format: email`."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
