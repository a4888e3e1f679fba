"""Who a PSC identity is in the portal: only what an editor decided, never an e-mail address.

A professional is recognised by the RPPS inside their PSC national identifier, matched against
a pharmacist access or a pending invitation that names it; or by an explicit link made while
logged in with a password. Where an editor allows it, the officines PSC lists for them give
read access to that editor's officines, kept in step at each PSC login.
"""

from __future__ import annotations

import time

from allauth.account import app_settings as account_settings
from allauth.account.internal.flows.login import get_authentication_records
from allauth.socialaccount.models import SocialAccount
from django.db import transaction
from django.utils import timezone

from officines.models import Officine, PharmacistAccess
from portal.audit import audit_record
from portal.models import Invitation, Membership, User
from portal.services import invitation_complete
from portal.tenancy import forget_scope
from psc.identity import PscIdentity
from psc.provider import PROVIDER_ID

STRUCTURE_PREFIX = "1"  # structure identifier of an officine: "1" + FINESS


class AmbiguousIdentity(Exception):
    """Several portal accounts name the same RPPS: an editor must fix it, we pick none."""


def user_for_identity(identity: PscIdentity) -> User | None:
    """The portal account an editor tied to this RPPS (creating it from a pending invitation
    that names the RPPS), or None."""
    if not identity.rpps:
        return None
    users = set(
        PharmacistAccess.objects.filter(rpps=identity.rpps).values_list("user_id", flat=True)
    )
    if len(users) > 1:
        raise AmbiguousIdentity(identity.rpps)
    if users:
        return User.objects.get(pk=users.pop(), is_active=True)
    invitation = (
        Invitation.objects.filter(
            rpps=identity.rpps,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
        .first()
    )
    if invitation is None:
        return None
    return invitation_complete(
        invitation=invitation, password=None, full_name=identity.display_name
    )


def _officines_named(identity: PscIdentity):
    finess = set(identity.structures)
    finess |= {
        s[1:] for s in identity.structures if len(s) == 10 and s.startswith(STRUCTURE_PREFIX)
    }
    return Officine.objects.filter(
        finess__in=finess, is_active=True, editor__psc_officine_access=True
    )


@transaction.atomic
def sync_psc_accesses(user: User, identity: PscIdentity) -> tuple[int, int]:
    """Grant read access to the officines PSC lists (editors that allow it), remove the
    PSC-granted ones it no longer lists. Editor-granted accesses are never touched."""
    named = {o.pk: o for o in _officines_named(identity)}
    current = {
        a.officine_id: a
        for a in PharmacistAccess.objects.filter(user=user).select_related("officine")
    }
    granted = removed = 0
    for officine_id, officine in named.items():
        if officine_id in current:
            continue
        access = PharmacistAccess.objects.create(
            user=user,
            officine=officine,
            source=PharmacistAccess.Source.PSC,
            read_only=True,
            rpps=identity.rpps or "",
        )
        audit_record(
            action="psc.access_granted", actor=user, editor=officine.editor_id, target=access
        )
        granted += 1
    for officine_id, access in current.items():
        if access.source == PharmacistAccess.Source.PSC and officine_id not in named:
            audit_record(
                action="psc.access_removed",
                actor=user,
                editor=access.officine.editor_id,
                target=access.officine,
            )
            access.delete()
            removed += 1
    if granted or removed:
        forget_scope(user)
    return granted, removed


def editors_of(user: User) -> list[int]:
    """Editors an audit event about this user's PSC login belongs to."""
    ids = set(
        PharmacistAccess.objects.filter(user=user).values_list("officine__editor_id", flat=True)
    )
    ids |= set(Membership.objects.filter(user=user).values_list("editor_id", flat=True))
    return sorted(ids)


def has_psc_identity(user) -> bool:
    return bool(
        user.is_authenticated
        and SocialAccount.objects.filter(user=user, provider=PROVIDER_ID).exists()
    )


# Methods that prove who holds the portal account itself (not a PSC login).
PORTAL_REAUTH_METHODS = ("password", "mfa")


def password_recently_confirmed(request) -> bool:
    """Did this session confirm the portal password (or TOTP) less than five minutes ago?
    The only ground on which a PSC identity may be linked to an existing account."""
    records = get_authentication_records(request, request.user)
    fresh = [
        r for r in records if r.get("reauthenticated") and r.get("method") in PORTAL_REAUTH_METHODS
    ]
    return bool(fresh) and (
        time.time() - fresh[-1].get("at", 0) < account_settings.REAUTHENTICATION_TIMEOUT
    )
