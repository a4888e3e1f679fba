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
        and officine.pharmacist_links.filter(user_id=user.pk).exists()
    )


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
