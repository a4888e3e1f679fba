"""What a caller may do: API-key scopes, or the portal role behind a session.

Which rows it sees is not decided here but by `visible_to(request.user)` in each view.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from portal.api.authentication import ApiPrincipal
from portal.models import ApiScope
from portal.tenancy import user_scope


def required_scopes(request, view) -> tuple[str, ...]:
    """The scopes an action needs: `view.required_scopes[action]`, else read/write by method."""
    action = getattr(view, "action", None) or request.method.lower()
    declared = getattr(view, "required_scopes", {}) or {}
    if action in declared:
        return tuple(declared[action])
    return (ApiScope.READ,) if request.method in SAFE_METHODS else (ApiScope.WRITE,)


class ApiScopePermission(BasePermission):
    """Keys need the scopes of the action; session users need a role (or pharmacist access).

    Session users: reading needs editor membership or pharmacist access; writing and
    exporting keys need the admin or operator role.
    """

    message = _("You may not do this.")

    def has_permission(self, request, view) -> bool:
        needed = required_scopes(request, view)
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if isinstance(user, ApiPrincipal):
            missing = [s for s in needed if not user.has_scope(s)]
            if missing:
                self.message = _("This API key lacks the scope: %(s)s.") % {"s": ", ".join(missing)}
                return False
            if (
                user.officine_id
                and getattr(view, "officine_limited_forbidden", ())
                and (
                    (getattr(view, "action", None) or request.method.lower())
                    in view.officine_limited_forbidden
                )
            ):
                self.message = _("This API key is limited to one officine.")
                return False
            return True
        scope = user_scope(user)
        if set(needed) <= {ApiScope.READ}:  # reading, or nothing at all (ping, API root)
            if scope.is_member or scope.is_pharmacist:
                return True
            self.message = _("Your account has no access to editor data.")
            return False
        if scope.can_write:
            return True
        self.message = _("Your role does not allow this.")
        return False
