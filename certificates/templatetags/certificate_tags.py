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


@register.filter
def services_not_in_name(services, common_name: str) -> str:
    """|services_not_in_name:cn — the services a name does not already say ("LGO ROC" for
    ROC shows nothing more; "INSI-AUTO" for INSI too), joined with ", "."""
    words = {word for word in (common_name or "").upper().replace("-", " ").split()}
    return ", ".join(s for s in services or [] if str(s).upper() not in words)
