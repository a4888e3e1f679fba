"""Who is calling: an API key (`Authorization: Bearer lgo_…`) or a portal session.

An API key is not a user: it authenticates as an `ApiPrincipal`, which DRF uses as
`request.user` and which `portal.tenancy.user_scope` understands through `api_scope`, so
`Model.objects.visible_to(request.user)` scopes API-key requests like any other.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from portal.api.keys import api_key_lookup, api_key_touch
from portal.middleware import needs_mfa_enrolment
from portal.models import ApiKey, ApiScope, Role
from portal.tenancy import Scope


class ApiPrincipal:
    """The caller behind an API key, usable as `request.user` (never saved, no `pk`)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return self.audit_label

    @property
    def editor_id(self) -> int:
        return self.api_key.editor_id

    @property
    def officine_id(self) -> int | None:
        return self.api_key.officine_id

    @property
    def audit_label(self) -> str:
        return self.api_key.audit_label

    @property
    def api_scope(self) -> Scope:
        """Write keys act as operators, read-only keys as viewers, always within one editor."""
        role = Role.OPERATOR if self.api_key.has_scope(ApiScope.WRITE) else Role.VIEWER
        return Scope(
            user_id=None,
            editor_id=self.api_key.editor_id,
            role=str(role),
            coverage_services=self.api_key.editor.coverage_services,
        )

    def has_scope(self, scope: str) -> bool:
        return self.api_key.has_scope(scope)

    def get_username(self) -> str:
        return self.api_key.prefix

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False


def principal_of(request: Any) -> ApiPrincipal | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, ApiPrincipal) else None


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`; a revoked, expired or unknown key is a 401."""

    keyword = "Bearer"

    def authenticate(self, request) -> tuple[ApiPrincipal, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword.lower():
            return None  # another scheme: let the next authenticator decide
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                _("Invalid Authorization header: send `Bearer <API key>`.")
            )
        api_key = api_key_lookup(parts[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Unknown API key."))
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API key has been revoked."))
        if not api_key.is_usable:
            raise exceptions.AuthenticationFailed(_("This API key has expired."))
        if not api_key.editor.is_active:
            raise exceptions.AuthenticationFailed(_("The editor of this API key is deactivated."))
        if api_key.officine_id and not api_key.officine.is_active:
            raise exceptions.AuthenticationFailed(_("The officine of this API key is deactivated."))
        api_key_touch(api_key)
        return ApiPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class PortalSessionAuthentication(SessionAuthentication):
    """A logged-in portal user (browsable API), with CSRF; admins and operators need TOTP first."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        if needs_mfa_enrolment(result[0], getattr(request._request, "session", None)):
            raise exceptions.PermissionDenied(
                _("Enrol two-factor authentication in the portal before using the API.")
            )
        return result


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "lgo_…",
            "description": (
                "An API key created by an editor administrator (portal page or "
                "`manage.py create_api_key`), sent as `Authorization: Bearer <key>`."
            ),
        }


class PortalSessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.PortalSessionAuthentication"
    name = "session"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A portal session (browsable API); unsafe methods need the CSRF token.",
        }
