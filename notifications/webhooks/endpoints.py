"""Webhook endpoints of an editor: register, change, regenerate the secret, enable, delete.

Every write is audited; the secret is returned once (creation, regeneration), never read back.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.links import user_or_none
from notifications.models import WebhookEndpoint, WebhookEvent
from notifications.webhooks.secrets import new_secret, secret_store
from notifications.webhooks.targets import validate_webhook_url
from portal.audit import audit_record
from portal.models import Editor


def _clean_events(events: list[str]) -> list[str]:
    chosen = sorted(set(events or []))
    if not chosen:
        raise ValidationError({"events": _("Choose at least one event.")})
    if set(chosen) - set(WebhookEvent.values):
        raise ValidationError({"events": _("Unknown event.")})
    return chosen


@transaction.atomic
def endpoint_create(
    *,
    editor: Editor,
    url: str,
    events: list[str],
    description: str = "",
    actor: Any = None,
    request: HttpRequest | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret, to be shown once."""
    try:
        url = validate_webhook_url(url)
    except ValidationError as exc:
        raise ValidationError({"url": exc.messages}) from None
    endpoint = WebhookEndpoint.objects.create(
        editor=editor,
        url=url,
        events=_clean_events(events),
        description=(description or "").strip()[:200],
        created_by=user_or_none(actor),
    )
    secret = new_secret()
    secret_store(endpoint, secret)  # now that the row has its id (same transaction)
    audit_record(
        action="webhook.create",
        actor=actor,
        editor=editor,
        target=endpoint,
        request=request,
        details={"url": url, "events": endpoint.events},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    events: list[str],
    description: str = "",
    actor: Any = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    endpoint.events = _clean_events(events)
    endpoint.description = (description or "").strip()[:200]
    endpoint.save(update_fields=["events", "description"])
    audit_record(
        action="webhook.update",
        actor=actor,
        target=endpoint,
        request=request,
        details={"events": endpoint.events},
    )
    return endpoint


@transaction.atomic
def endpoint_regenerate_secret(
    *, endpoint: WebhookEndpoint, actor: Any = None, request: HttpRequest | None = None
) -> str:
    """A new secret at once (deliveries still queued are signed with it); shown once."""
    secret = new_secret()
    secret_store(endpoint, secret)
    audit_record(action="webhook.secret_regenerate", actor=actor, target=endpoint, request=request)
    return secret


@transaction.atomic
def endpoint_set_active(
    *,
    endpoint: WebhookEndpoint,
    active: bool,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    """Enable (resets the failure count) or disable by hand."""
    endpoint.is_active = active
    endpoint.failure_count = 0 if active else endpoint.failure_count
    endpoint.disabled_at = None if active else timezone.now()
    endpoint.disabled_reason = "" if active else "disabled by an administrator"
    endpoint.save(update_fields=["is_active", "failure_count", "disabled_at", "disabled_reason"])
    audit_record(
        action="webhook.enable" if active else "webhook.disable",
        actor=actor,
        target=endpoint,
        request=request,
    )
    return endpoint


@transaction.atomic
def endpoint_delete(
    *, endpoint: WebhookEndpoint, actor: Any = None, request: HttpRequest | None = None
) -> None:
    audit_record(
        action="webhook.delete",
        actor=actor,
        target=endpoint,
        request=request,
        details={"url": endpoint.url},
    )
    endpoint.delete()
