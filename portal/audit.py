"""Write audit events. Callers describe what happened; this fills who, where and when."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from portal.models import AuditEvent, Editor
from portal.permissions import is_portal_user


class SystemActor:
    """Stands for the portal itself (tasks, commands) in audit events: label "system"."""

    audit_label = "system"

    def __str__(self) -> str:
        return self.audit_label


SYSTEM = SystemActor()


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# C0 and C1 control characters but tab and newline: PostgreSQL refuses NUL in text and
# jsonb (a search for "a\x00" used to turn an export into a 500), the rest is log forging.
_CONTROLS = {
    c: None for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0D, 0x20), *range(0x7F, 0xA0)]
}


def clean_text(value: str) -> str:
    """`value` without control characters (tab and newline kept)."""
    return value.translate(_CONTROLS)


def _clean(value: Any) -> Any:
    """Details as stored: control characters stripped from every key and string, at any depth."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def audit_record(
    *,
    action: str,
    actor: Any = None,
    editor: Editor | int | None = None,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason: str = "",
    details: dict | None = None,
) -> AuditEvent:
    """Append one audit event; `actor` is a user, an API key (anything with `audit_label`) or None."""
    user = actor if is_portal_user(actor) else None
    if actor is None and request is not None and request.user.is_authenticated:
        user = request.user
    label = getattr(actor, "audit_label", None) or (str(user.email) if user else "")
    editor_id = editor.pk if isinstance(editor, Editor) else editor
    if editor_id is None and target is not None:
        editor_id = getattr(target, "editor_id", None)
    return AuditEvent.objects.create(
        action=action,
        actor=user,
        actor_label=clean_text(label)[:200],
        editor_id=editor_id,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=clean_text(str(target))[:255] if target is not None else "",
        outcome=outcome,
        reason=clean_text(reason)[:255],
        ip_address=_client_ip(request) if request else None,
        user_agent=clean_text(request.headers.get("User-Agent", ""))[:255] if request else "",
        details=_clean(details or {}),
    )
