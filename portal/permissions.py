"""Role checks for views. Scoping (which rows) is `visible_to`; this is about what a role may do."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet

from portal.tenancy import Scope, user_scope

READ_ROLES = ("admin", "operator", "viewer")
WRITE_ROLES = ("admin", "operator")
ADMIN_ROLES = ("admin",)


def can_act_on_officine(user: Any, officine: Any) -> bool:
    """Operators and admins of the editor; pharmacists of the officine in "pharmacien" mode."""
    scope = user_scope(user)
    if scope.can_write and scope.editor_id == officine.editor_id:
        return True
    return (
        officine.delegation_mode == "pharmacien"
        and officine.pharmacist_links.filter(user_id=user.pk, read_only=False).exists()
    )


def is_portal_user(actor: Any) -> bool:
    """A portal `User`, as opposed to an API key's principal or None (the portal itself)."""
    return bool(getattr(actor, "_meta", None)) and actor._meta.label == "portal.User"


def check_may_act(actor: Any, target: Any) -> None:
    """Defence in depth behind views and API, for services that change `target` (a row of one
    officine: `editor_id`, `officine_id`, `officine`): a user per `can_act_on_officine`, an API
    key within its editor (and its officine, if limited to one), None (the portal) always."""
    if is_portal_user(actor):
        allowed = can_act_on_officine(actor, target.officine)
    else:
        allowed = getattr(actor, "editor_id", None) in (None, target.editor_id) and (
            getattr(actor, "officine_id", None) in (None, target.officine_id)
        )
    if not allowed:
        raise PermissionDenied


class ScopedViewMixin(LoginRequiredMixin):
    """Base for tenant pages: `roles` who may enter, `model` rows seen through `visible_to`.

    `allow_pharmacists` lets pharmacists in (they still only see their officines).
    """

    model: type[Model]
    roles: tuple[str, ...] = READ_ROLES
    allow_pharmacists = False

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not self.has_role(user_scope(request.user)):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def has_role(self, scope: Scope) -> bool:
        if scope.role in self.roles:
            return True
        return self.allow_pharmacists and scope.is_pharmacist

    @property
    def scope(self) -> Scope:
        return user_scope(self.request.user)

    def get_queryset(self) -> QuerySet:
        return self.model.objects.visible_to(self.request.user)
