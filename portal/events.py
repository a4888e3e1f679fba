"""Kernel events: a lower app announces what happened to a certificate; higher apps subscribe.

    from portal.events import certificate_event_send
    certificate_event_send(editor_id=..., event="certificate.revoked", certificate_id=...,
                           context={"revoked_by": "ans", ...})

`notifications` subscribes from its AppConfig.ready() (webhooks, in-app notices, e-mails),
so `certificates` never imports it. Send inside the transaction that wrote the change:
receivers write their rows in it and enqueue their work on commit.

A subscriber also says which events it acts on (`wants(editor_id, event)`), so a sender of
many events (a bulk import) asks `certificate_event_wanted` once and sends nothing when
nobody would act, instead of waking every receiver for every certificate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

# Arguments: editor_id, event, certificate_id, context (dict, JSON-able).
certificate_event = Signal()
# dispatch_uid -> the subscriber's wants(editor_id, event).
_certificate_event_wants: dict[str, Callable[[int, str], bool]] = {}


def certificate_event_subscribe(
    receiver: Callable[..., Any], *, wants: Callable[[int, str], bool], dispatch_uid: str
) -> None:
    """Connect `receiver` to `certificate_event`; `wants(editor_id, event)` tells senders
    whether it would act on an event (False only when it would surely do nothing)."""
    certificate_event.connect(receiver, dispatch_uid=dispatch_uid)
    _certificate_event_wants[dispatch_uid] = wants


def certificate_event_wanted(*, editor_id: int, event: str) -> bool:
    """Whether any subscriber would act on `event` for this editor; may query, so ask once
    for many sends. A single event is simply sent."""
    return any(wants(editor_id, event) for wants in _certificate_event_wants.values())


def certificate_event_send(
    *, editor_id: int, event: str, certificate_id: int, context: dict[str, Any] | None = None
) -> None:
    certificate_event.send(
        sender=None,
        editor_id=editor_id,
        event=event,
        certificate_id=certificate_id,
        context=context or {},
    )


# Arguments: officine_ids (list of int), change ("deactivated" or "identity": the raison
# sociale or the département, i.e. the O or ST of its certificates, changed).
officine_changed = Signal()


def officine_changed_send(*, officine_ids: list[int], change: str) -> None:
    """An officine stopped (cessation of activity) or its certificates' subject no longer
    matches it; `certificates` flags its live certificates for the ANS. Send inside the
    transaction that wrote the change."""
    if officine_ids:
        officine_changed.send(sender=None, officine_ids=list(officine_ids), change=change)


# Arguments: invitation (portal.models.Invitation of kind "pharmacist"), user. Sent inside
# the transaction that accepts it; `officines` grants the user its officines.
pharmacist_invitation_accepted = Signal()
