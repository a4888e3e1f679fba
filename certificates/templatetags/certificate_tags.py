"""Small template helpers of the certificate pages."""

from django import template

register = template.Library()


@register.filter(name="absolute")
def absolute(value: int | None) -> int:
    """|absolute: "expired 3 days ago" from days_left = -3."""
    return abs(int(value or 0))


@register.filter
def fingerprint(value: str) -> str:
    """A SHA-256 hex digest as AA:BB:CC…, the form certificate viewers show."""
    value = (value or "").upper()
    return ":".join(value[i : i + 2] for i in range(0, len(value), 2))
