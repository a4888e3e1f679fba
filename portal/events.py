"""Kernel events: a lower app announces what happened to a certificate; higher apps subscribe.

    from portal.events import certificate_event_send
    certificate_event_send(editor_id=..., event="certificate.revoked", certificate_id=...,
                           context={"revoked_by": "ans", ...})

`notifications` connects to `certificate_event` from its AppConfig.ready() (webhooks, in-app
notices, e-mails), so `certificates` never imports it. Send inside the transaction that
wrote the change: receivers write their rows in it and enqueue their work on commit.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

# Arguments: editor_id, event, certificate_id, context (dict, JSON-able).
certificate_event = Signal()


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
