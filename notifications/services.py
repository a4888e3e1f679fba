"""Small writes behind the notification pages: policy, subscriptions, in-app read marks.

The bigger services live in topic modules: scan.py (daily scan), digests.py (e-mail),
webhooks/, calendar.py, events.py (for other apps).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.links import user_or_none
from notifications.models import (
    MAX_EXTRA_THRESHOLDS,
    MAX_THRESHOLD_DAYS,
    AlertPolicy,
    AlertSubscription,
    Notification,
)
from notifications.policy import PolicyError, clean_extra_thresholds
from portal.audit import audit_record
from portal.models import Editor
from portal.tenancy import user_scope


@transaction.atomic
def alert_policy_update(
    *,
    editor: Editor,
    extra_thresholds: Iterable[int | str],
    actor: Any = None,
    request: HttpRequest | None = None,
) -> AlertPolicy:
    """Set an editor's extra thresholds; the defaults (30, 15, 7, 1, 0) cannot be removed."""
    try:
        extra = clean_extra_thresholds(extra_thresholds)
    except PolicyError:
        raise ValidationError(
            {
                "extra_thresholds": _(
                    "Give at most %(max)d whole numbers of days between 1 and %(days)d."
                )
                % {"max": MAX_EXTRA_THRESHOLDS, "days": MAX_THRESHOLD_DAYS}
            },
            code="invalid",
        ) from None
    policy, _created = AlertPolicy.objects.select_for_update().get_or_create(editor=editor)
    before = list(policy.extra_thresholds)
    policy.extra_thresholds = extra
    policy.updated_by = user_or_none(actor)
    policy.save()
    audit_record(
        action="alert_policy.update",
        actor=actor,
        editor=editor,
        target=policy,
        request=request,
        details={"before": before, "after": extra},
    )
    return policy


@transaction.atomic
def alert_subscription_set(*, user: Any, subscribed: bool) -> bool:
    """Opt a member of an editor in or out of the daily digest of all its certificates."""
    editor_id = user_scope(user).editor_id
    if editor_id is None:
        raise ValidationError(_("Only editor staff can subscribe to the editor's alerts."))
    if subscribed:
        AlertSubscription.objects.get_or_create(user_id=user.pk, editor_id=editor_id)
    else:
        AlertSubscription.objects.filter(user_id=user.pk).delete()
    return subscribed


def is_subscribed(user: Any) -> bool:
    return AlertSubscription.objects.visible_to(user).filter(user_id=user.pk).exists()


def notification_mark_read(*, notification: Notification) -> None:
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )


def notifications_mark_all_read(*, user: Any) -> int:
    return Notification.objects.visible_to(user).unread().update(read_at=timezone.now())
