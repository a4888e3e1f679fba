"""Template helpers of the officine and dashboard pages."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def optional_url(name: str, *args) -> str:
    """The URL of `name`, or "" while the route does not exist (pages built by other parts)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


@register.filter
def get_item(mapping, key):
    """`mapping[key]` in templates (coverage matrices keyed by service)."""
    try:
        return mapping[key]
    except (KeyError, TypeError, IndexError):
        return None
