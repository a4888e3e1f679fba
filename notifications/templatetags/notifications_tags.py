"""Template helpers: the alert history of a certificate, for `notifications/_alert_log.html`."""

from __future__ import annotations

from django import template

from notifications.selectors import AlertLogLine, alert_log_for

register = template.Library()


@register.simple_tag(takes_context=True)
def alert_log_lines(context, certificate) -> list[AlertLogLine]:
    """`{% alert_log_lines certificate as lines %}`; reuses `alert_log` if the view set it."""
    if context.get("alert_log") is not None:
        return context["alert_log"]
    request = context.get("request")
    return alert_log_for(certificate, user=getattr(request, "user", None))
