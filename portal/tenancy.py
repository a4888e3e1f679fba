"""Tenant scoping: the one place that decides which rows a user may see.

Every tenant-owned model uses `TenantQuerySet` and declares how it reaches its
editor (`tenant_editor_path`) and, when pharmacists may see it, its officine
(`tenant_officine_path`, "" for the Officine model itself). `visible_to(user)`
builds a single Q from those paths so joins cannot widen the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from django.db import models
from django.db.models import Q

_SCOPE_CACHE = "_portal_scope"


# Whether a user is the pharmacist of an officine of an active editor. The kernel knows no
# officine: `officines` registers the lookup from its AppConfig.ready().
def _no_pharmacists(user_id: int) -> bool:
    return False


_pharmacist_check: Callable[[int], bool] = _no_pharmacists


def register_pharmacist_check(check: Callable[[int], bool]) -> None:
    """Called once by the officines app: `check(user_id)` answers `Scope.is_pharmacist`."""
    global _pharmacist_check
    _pharmacist_check = check


@dataclass(frozen=True)
class Scope:
    """What a user is in the portal: member of one editor (with a role) and/or a pharmacist."""

    user_id: int | None = None
    editor_id: int | None = None
    role: str | None = None
    is_pharmacist: bool = False
    # The editor's `Editor.coverage_services` ("DMP,INSI,...": the services its officines
    # need), read with the membership; empty: the default four.
    coverage_services: str = ""

    @property
    def is_member(self) -> bool:
        return self.editor_id is not None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write(self) -> bool:
        """Admins and operators change officines, administrators and certificates."""
        return self.role in ("admin", "operator")


def user_scope(user: Any) -> Scope:
    """The user's scope, computed once per request-user object."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Scope()
    # API keys (portal.api.authentication.ApiPrincipal) carry their scope with them.
    api_scope = getattr(user, "api_scope", None)
    if isinstance(api_scope, Scope):
        return api_scope
    cached = getattr(user, _SCOPE_CACHE, None)
    if cached is not None:
        return cached
    from portal.models import Membership  # models import this module: no cycle at load

    membership = (
        Membership.objects.filter(user_id=user.pk, editor__is_active=True)
        .values_list("editor_id", "role", "editor__coverage_services")
        .first()
    )
    is_pharmacist = _pharmacist_check(user.pk)
    editor_id, role, services = membership if membership else (None, None, "")
    scope = Scope(
        user_id=user.pk,
        editor_id=editor_id,
        role=role,
        is_pharmacist=is_pharmacist,
        coverage_services=services or "",
    )
    setattr(user, _SCOPE_CACHE, scope)
    return scope


def forget_scope(user: Any) -> None:
    """Drop the cached scope after a membership or pharmacist link changes."""
    if hasattr(user, _SCOPE_CACHE):
        delattr(user, _SCOPE_CACHE)


def _join(path: str, field: str) -> str:
    return f"{path}__{field}" if path else field


class TenantQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> Self:
        """Rows of the user's editor, plus (for pharmacists) rows of their own officines."""
        scope = user_scope(user)
        editor_path: str = getattr(self.model, "tenant_editor_path", "editor")
        officine_path: str | None = getattr(self.model, "tenant_officine_path", None)
        condition = Q(pk__in=[])
        if scope.editor_id is not None:
            condition |= Q(**{_join(editor_path, "id"): scope.editor_id})
        if scope.is_pharmacist and officine_path is not None:
            condition |= Q(
                **{
                    _join(officine_path, "pharmacist_links__user_id"): scope.user_id,
                    _join(editor_path, "is_active"): True,
                }
            )
        return self.filter(condition)

    def of_editor(self, editor_id: int) -> Self:
        """Rows of one editor, for tasks and commands that act for a tenant, not a user."""
        editor_path: str = getattr(self.model, "tenant_editor_path", "editor")
        return self.filter(**{_join(editor_path, "id"): editor_id})
