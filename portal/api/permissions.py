"""What a caller may do through the API: the same rules as the pages (`portal.permissions`).

Which rows it sees is `visible_to(request.user)` in each view; what it may do with one row is
`portal.permissions.decide(caller, action, row)`, checked here as DRF's object permission.
A view names its editor-wide `resource` (a key of `EDITOR_RULES`) and, per action, the
`object_actions` it does on a row (default: VIEW for reads, MANAGE for writes).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from portal.api.authentication import ApiPrincipal
from portal.models import ApiScope
from portal.permissions import (
    EDITOR_RULES,
    READ_ROLES,
    Action,
    decide,
    editor_roles,
    key_scope,
)
from portal.tenancy import user_scope


def view_action(request, view) -> str:
    return getattr(view, "action", None) or request.method.lower()


def verb_of(request) -> str:
    return "view" if request.method in SAFE_METHODS else "manage"


def required_scopes(request, view) -> tuple[str, ...]:
    """The scopes an action needs: `view.required_scopes[action]`, else the resource's rule
    (EDITOR_RULES), else read/write by method."""
    action = view_action(request, view)
    declared = getattr(view, "required_scopes", {}) or {}
    if action in declared:
        return tuple(declared[action])
    resource = getattr(view, "resource", None)
    if resource and (resource, verb_of(request)) in EDITOR_RULES:
        scope = key_scope(resource, verb_of(request))
        if scope is not None:
            return (scope,)
    return (ApiScope.READ,) if request.method in SAFE_METHODS else (ApiScope.WRITE,)


def object_action(request, view) -> Action:
    declared = getattr(view, "object_actions", {}) or {}
    action = view_action(request, view)
    if action in declared:
        return Action(declared[action])
    return Action.VIEW if request.method in SAFE_METHODS else Action.MANAGE


class ApiScopePermission(BasePermission):
    """Keys need the scopes of the action; session users need a role (or pharmacist access).

    Session users: an editor-wide action (a view without `object_actions` for it) needs the
    role `EDITOR_RULES` gives for the view's resource; an action on one row lets in writers
    and pharmacists, and `has_object_permission` decides for that row.
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
            if user.officine_id and view_action(request, view) in getattr(
                view, "officine_limited_forbidden", ()
            ):
                self.message = _("This API key is limited to one officine.")
                return False
            return True
        scope = user_scope(user)
        action = view_action(request, view)
        resource = getattr(view, "resource", None)
        on_a_row = action in (getattr(view, "object_actions", {}) or {})
        reading = request.method in SAFE_METHODS
        if reading and resource and (resource, "view") in EDITOR_RULES:
            roles = editor_roles(resource, "view")
            if roles != READ_ROLES:  # admin-only resources (webhooks): the page's rule
                if scope.role in roles:
                    return True
                self.message = _("Your role does not allow this.")
                return False
        if reading or set(needed) <= {ApiScope.READ}:
            if scope.is_member or scope.is_pharmacist:
                return True
            self.message = _("Your account has no access to editor data.")
            return False
        if on_a_row:
            if scope.can_write or scope.is_pharmacist:
                return True  # has_object_permission decides for the row
        elif resource and (resource, verb_of(request)) in EDITOR_RULES:
            if scope.role in editor_roles(resource, verb_of(request)):
                return True
        elif scope.can_write:
            return True
        self.message = _("Your role does not allow this.")
        return False

    def has_object_permission(self, request, view, obj) -> bool:
        if getattr(type(obj), "tenant_officine_path", None) is None:
            return True  # editor-wide rows: has_permission decided, visible_to scoped
        decision = decide(request.user, object_action(request, view), obj)
        if not decision:
            self.message = decision.reason
        return decision.allowed
