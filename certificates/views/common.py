"""What the certificate pages share: page size, downloads, who may order for which officine.

Every page looks rows up through `visible_to(user)` (a foreign id is a 404), then write
actions ask `portal.permissions.decide` (viewers and pharmacists in "éditeur" mode get a 403
on every POST).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.utils.http import content_disposition_header

from officines.models import DelegationMode, Officine, PharmacistAccess
from portal.permissions import Action, require
from portal.tenancy import user_scope

PAGE_SIZE = 50
POLL_SECONDS = 2


def attachment(content: bytes, filename: str, content_type: str) -> HttpResponse:
    """A download that no cache keeps (it may hold a private key)."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response


def actable_officines(user: Any) -> QuerySet[Officine]:
    """Active officines the user may order certificates for (`Action.ORDER` in SQL): Cas 1
    officines of the editor they write for, Cas 2 officines they are a pharmacist of."""
    scope = user_scope(user)
    condition = Q(pk__in=[])
    if scope.can_write and scope.editor_id is not None:
        condition |= Q(editor_id=scope.editor_id) & ~Q(delegation_mode=DelegationMode.PHARMACIEN)
    if scope.is_pharmacist:
        condition |= Q(
            delegation_mode=DelegationMode.PHARMACIEN,
            pk__in=PharmacistAccess.objects.filter(user_id=user.pk, read_only=False).values(
                "officine_id"
            ),
        )
    return Officine.objects.visible_to(user).filter(condition).active()


def require_can_act(user: Any, target: Any, action: Action = Action.ORDER) -> None:
    """403 with the reason (Cas 1 / Cas 2, role) when `user` may not do `action` on `target`."""
    require(user, action, target)
