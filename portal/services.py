"""Writes on tenants and accounts: editors, invitations, memberships."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from portal.audit import audit_record
from portal.events import pharmacist_invitation_accepted
from portal.models import Editor, Invitation, InvitationKind, Membership, Role, User
from portal.tenancy import forget_scope

INVITATION_VALIDITY = timedelta(days=7)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("invitation_accept", args=[token])


def editor_create(*, name: str, siren: str = "", contact_email: str = "") -> Editor:
    editor = Editor(name=name.strip(), siren=siren, contact_email=contact_email)
    editor.full_clean()
    editor.save()
    audit_record(action="editor.create", editor=editor, target=editor)
    return editor


@transaction.atomic
def invitation_create(
    *,
    editor: Editor,
    email: str,
    kind: str = InvitationKind.MEMBER,
    role: str = Role.VIEWER,
    officines: list[models.Model] | None = None,
    invited_by: User | None = None,
    language: str = "fr",
    rpps: str = "",
) -> tuple[Invitation, str]:
    """Create an invitation and mail its one-time link; returns the invitation and the raw token."""
    email = email.strip().lower()
    existing = User.objects.filter(email=email).first()
    if kind == InvitationKind.MEMBER:
        if role not in Role.values:
            raise ValidationError({"role": _("Unknown role.")})
        if existing and Membership.objects.filter(user=existing).exists():
            raise ValidationError({"email": _("This person already belongs to an editor.")})
    else:
        officines = list(officines or [])
        if not officines:
            raise ValidationError({"officines": _("Choose at least one officine.")})
        if any(o.editor_id != editor.pk for o in officines):
            raise ValidationError({"officines": _("Unknown officine.")})
        if existing and Membership.objects.filter(user=existing).exists():
            raise ValidationError({"email": _("Editor staff cannot be invited as pharmacists.")})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        editor=editor,
        email=email,
        kind=kind,
        role=role if kind == InvitationKind.MEMBER else "",
        token_hash=_token_hash(token),
        rpps=rpps,
        invited_by=invited_by,
        expires_at=timezone.now() + INVITATION_VALIDITY,
    )
    if kind == InvitationKind.PHARMACIST:
        invitation.officines.set(officines)
    audit_record(
        action="invitation.create",
        actor=invited_by,
        editor=editor,
        target=invitation,
        details={"kind": kind, "role": invitation.role},
    )
    transaction.on_commit(lambda: _send_invitation(invitation, token, language))
    return invitation, token


def _send_invitation(invitation: Invitation, token: str, language: str) -> None:
    context = {
        "invitation": invitation,
        "url": invitation_url(token),
        "editor": invitation.editor,
        "valid_days": INVITATION_VALIDITY.days,
    }
    with translation.override(language):
        subject = _("Invitation to the certificate portal of %(editor)s") % {
            "editor": invitation.editor.name
        }
        body = render_to_string("emails/invitation.txt", context)
    send_mail(subject, body, None, [invitation.email])


def invitation_for_token(token: str) -> Invitation | None:
    """The usable invitation behind a link, or None (unknown, used, revoked or expired)."""
    invitation = (
        Invitation.objects.select_related("editor").filter(token_hash=_token_hash(token)).first()
    )
    if invitation is None or not invitation.is_usable or not invitation.editor.is_active:
        return None
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, password: str, full_name: str = "") -> User:
    """Create (or complete) the account behind an invitation, exactly once."""
    invitation = invitation_for_token(token)
    if invitation is None:
        raise ValidationError(_("This invitation link is invalid or has expired."))
    return invitation_complete(invitation=invitation, password=password, full_name=full_name)


@transaction.atomic
def invitation_complete(
    *, invitation: Invitation, password: str | None, full_name: str = ""
) -> User:
    """Accept a pending invitation; `password=None` for a login that needs none (an identity
    provider the invitation names), which leaves the account without a usable password."""
    # Lock the row so two clicks on the same link cannot both succeed.
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError(_("This invitation link is invalid or has expired."))
    user = User.objects.filter(email=invitation.email).first()
    if user is None:
        user = User(email=invitation.email, full_name=full_name)
    elif full_name:
        user.full_name = full_name
    if password is not None:
        user.set_password(password)
    elif not user.pk:
        user.set_unusable_password()
    user.is_active = True
    user.save()
    if invitation.kind == InvitationKind.MEMBER:
        if Membership.objects.filter(user=user).exclude(editor=invitation.editor).exists():
            raise ValidationError(_("This person already belongs to an editor."))
        Membership.objects.update_or_create(
            user=user, defaults={"editor": invitation.editor, "role": invitation.role}
        )
    else:
        pharmacist_invitation_accepted.send(sender=Invitation, invitation=invitation, user=user)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    forget_scope(user)
    audit_record(
        action="invitation.accept", actor=user, editor=invitation.editor, target=invitation
    )
    return user


def invitation_revoke(*, invitation: Invitation, by: User) -> None:
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        action="invitation.revoke", actor=by, editor=invitation.editor_id, target=invitation
    )


def membership_set_role(*, membership: Membership, role: str, by: User) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        action="membership.role",
        actor=by,
        editor=membership.editor_id,
        target=membership,
        details={"from": previous, "to": role},
    )
    return membership


def membership_remove(*, membership: Membership, by: User) -> None:
    user = membership.user
    audit_record(
        action="membership.remove", actor=by, editor=membership.editor_id, target=membership
    )
    membership.delete()
    user.is_active = False
    user.save(update_fields=["is_active"])
