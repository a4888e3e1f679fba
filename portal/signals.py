"""Audit authentication and MFA events raised by Django and allauth."""

from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from portal.audit import audit_record
from portal.models import AuditEvent
from portal.tenancy import user_scope


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    audit_record(action="login", actor=user, editor=user_scope(user).editor_id, request=request)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(
            action="logout", actor=user, editor=user_scope(user).editor_id, request=request
        )


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    audit_record(
        action="login",
        request=request,
        outcome=AuditEvent.Outcome.FAILURE,
        details={"email": str(credentials.get("email") or credentials.get("username") or "")[:200]},
    )


def _mfa_event(action: str):
    def handler(sender, request, user, authenticator=None, **kwargs) -> None:
        kind = getattr(authenticator, "type", "")
        audit_record(
            action=action,
            actor=user,
            editor=user_scope(user).editor_id,
            request=request,
            details={"type": kind},
        )

    return handler


_mfa_added = _mfa_event("mfa.added")
_mfa_removed = _mfa_event("mfa.removed")
_mfa_reset = _mfa_event("mfa.reset")
authenticator_added.connect(_mfa_added, dispatch_uid="audit-mfa-added")
authenticator_removed.connect(_mfa_removed, dispatch_uid="audit-mfa-removed")
authenticator_reset.connect(_mfa_reset, dispatch_uid="audit-mfa-reset")
