"""Who may do what on which object: the one rule table of pages, API and services.

A permission is always decided for the (caller, object) pair: the caller's role **in the
object's editor**, pharmacist rights on **that** officine, or an API key within its editor
(and its officine) — never a role held in another tenant. Which rows a caller sees is
`visible_to`; this module says what it may do with one of them.

Delegation (ANS guide, « Cas 1 » / « Cas 2 »): an officine in mode « éditeur » delegates
ordering, renewal and revocation of its certificates to its editor; in mode « pharmacien »
it orders them itself, « sans délégation à l'éditeur »: then only its pharmacists and an API
key limited to it (the LGO installed at the pharmacy) order, renew, cancel, export or revoke.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _

from portal.tenancy import Scope, user_scope

READ_ROLES = ("admin", "operator", "viewer")
WRITE_ROLES = ("admin", "operator")
ADMIN_ROLES = ("admin",)

PHARMACIEN = "pharmacien"  # officines.models.DelegationMode.PHARMACIEN (the kernel imports no app)


class Action(StrEnum):
    """What a caller does to one officine's rows."""

    VIEW = "view"  # read the officine, its certificates, requests, installations
    MANAGE = "manage"  # the editor's record of the officine: details, mode, administrator
    RECORD = "record"  # ledger facts: import an issued certificate, report an installation
    ORDER = "order"  # create, renew, cancel, submit a request; upload its CSR; revoke
    EXPORT_KEY = "export_key"  # ORDER, plus `keys:export` for keys (sessions: re-auth, views)


# Editor-wide resources: (resource, verb) -> roles of that editor's staff, and the API-key
# scope that stands for them. Pages (`ScopedViewMixin.roles`) and API (`ApiScopePermission`)
# read this one table, and tests/portal/test_permission_matrix.py compares both sides.
EDITOR_RULES: dict[tuple[str, str], tuple[tuple[str, ...], str | None]] = {
    ("officines", "view"): (READ_ROLES, "read"),
    ("officines", "manage"): (WRITE_ROLES, "write"),
    ("certificates", "view"): (READ_ROLES, "read"),
    ("certificates", "manage"): (WRITE_ROLES, "write"),
    ("campaigns", "view"): (READ_ROLES, "read"),
    ("campaigns", "manage"): (WRITE_ROLES, "write"),
    ("webhooks", "view"): (ADMIN_ROLES, "write"),
    ("webhooks", "manage"): (ADMIN_ROLES, "write"),
    ("api_keys", "view"): (ADMIN_ROLES, None),
    ("api_keys", "manage"): (ADMIN_ROLES, None),
    ("team", "view"): (ADMIN_ROLES, None),
    ("team", "manage"): (ADMIN_ROLES, None),
    ("settings", "view"): (ADMIN_ROLES, None),
    ("settings", "manage"): (ADMIN_ROLES, None),
    ("audit", "view"): (ADMIN_ROLES, None),
}


def editor_roles(resource: str, verb: str) -> tuple[str, ...]:
    return EDITOR_RULES[(resource, verb)][0]


def key_scope(resource: str, verb: str) -> str | None:
    """The API-key scope for a resource; None: no API key may (pages only)."""
    return EDITOR_RULES[(resource, verb)][1]


CAS2_REFUSAL = _(
    "This officine orders its certificates itself, without delegation to its editor (mode "
    "« pharmacien », Cas 2): only its pharmacists, or an API key limited to this officine, "
    "may order, renew, cancel, export or revoke them."
)
CAS1_REFUSAL = _(
    "This officine delegates its certificates to its editor (mode « éditeur », Cas 1): the "
    "editor's technical administrator orders, renews and revokes them; pharmacists only "
    "follow them."
)
ROLE_REFUSAL = _("Your role does not allow this.")
OTHER_TENANT_REFUSAL = _("Your role in another editor gives no right on this officine.")
LIMITED_KEY_REFUSAL = _("This API key is limited to another officine.")
SCOPE_REFUSAL = _("This API key lacks the scope: %(s)s.")


@dataclass(frozen=True)
class Decision:
    """Allowed or not, and why not (shown on the page, or as the API problem's detail)."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def api_key_of(actor: Any) -> Any:
    """The ApiKey behind an actor (an API principal, or the ApiKey row itself), else None."""
    key = getattr(actor, "api_key", None)
    if key is not None:
        return key
    if hasattr(actor, "has_scope") and hasattr(actor, "editor_id") and hasattr(actor, "scopes"):
        return actor
    return None


def is_portal_itself(actor: Any) -> bool:
    """None, or a label standing for the portal (a task, a manage.py command): no tenant."""
    return actor is None or (
        not is_portal_user(actor) and api_key_of(actor) is None and not hasattr(actor, "editor_id")
    )


def is_portal_user(actor: Any) -> bool:
    """A portal `User`, as opposed to an API key's principal or None (the portal itself)."""
    return bool(getattr(actor, "_meta", None)) and actor._meta.label == "portal.User"


def _path_value(obj: Any, path: str) -> Any:
    for part in path.split("__"):
        obj = getattr(obj, part)
    return obj


def officine_of(target: Any) -> Any:
    """The officine a row belongs to (the Officine itself, or `target.officine`)."""
    if getattr(target, "_meta", None) is not None and target._meta.label == "officines.Officine":
        return target
    return target.officine


def editor_id_of(target: Any) -> int:
    """The editor a tenant row reaches through its `tenant_editor_path`."""
    path: str = getattr(type(target), "tenant_editor_path", "editor")
    head, _sep, tail = path.rpartition("__")
    owner = _path_value(target, head) if head else target
    return getattr(owner, f"{tail}_id")


_PHARMACIST_CACHE = "_portal_pharmacist_officines"


def pharmacist_links(user: Any) -> dict[int, bool]:
    """Officines (of active editors) the user is a pharmacist of -> may act (False for a
    read-only access, e.g. granted from Pro Santé Connect activities), once per request-user."""
    cached = getattr(user, _PHARMACIST_CACHE, None)
    if cached is None:
        if not user_scope(user).is_pharmacist:
            cached = {}
        else:
            cached = dict(
                user.pharmacist_links.filter(officine__editor__is_active=True).values_list(
                    "officine_id", "read_only"
                )
            )
            cached = {officine_id: not read_only for officine_id, read_only in cached.items()}
        setattr(user, _PHARMACIST_CACHE, cached)
    return cached


def pharmacist_officine_ids(user: Any) -> frozenset[int]:
    """Officines the user sees as a pharmacist (read-only accesses included)."""
    return frozenset(pharmacist_links(user))


def staff_role(actor: Any, editor_id: int) -> str | None:
    """The caller's role in this editor (a key: operator if it writes, else viewer); else None."""
    scope = user_scope(actor)
    return scope.role if scope.editor_id is not None and scope.editor_id == editor_id else None


def decide(actor: Any, action: Action | str, target: Any) -> Decision:
    """May `actor` (a user, an API key's principal, or None: the portal) do `action` on
    `target` (an officine or a row of one officine)?"""
    action = Action(action)
    if is_portal_itself(actor):
        return ALLOW  # tasks, commands
    officine = officine_of(target)
    cas2 = officine.delegation_mode == PHARMACIEN
    api_key = api_key_of(actor)
    if api_key is not None:
        return _decide_key(api_key, action, officine, cas2)
    if not is_portal_user(actor) or not actor.is_active:
        return Decision(False, str(ROLE_REFUSAL))
    role = staff_role(actor, officine.editor_id)
    links = pharmacist_links(actor)
    pharmacist = links.get(officine.pk, False)  # a read-only access only views
    writer = role in WRITE_ROLES
    if action == Action.VIEW:
        return Decision(role is not None or officine.pk in links, str(ROLE_REFUSAL))
    if action == Action.MANAGE:
        if writer:
            return ALLOW
    elif action == Action.RECORD:
        if writer or (pharmacist and cas2):
            return ALLOW
    elif cas2:  # ORDER, EXPORT_KEY on a Cas 2 officine: its pharmacists only
        if pharmacist:
            return ALLOW
        if role is not None:
            return Decision(False, str(CAS2_REFUSAL))
    elif writer:
        return ALLOW
    elif pharmacist and action in (Action.ORDER, Action.EXPORT_KEY):
        return Decision(False, str(CAS1_REFUSAL))
    if role is None and user_scope(actor).can_write:
        return Decision(False, str(OTHER_TENANT_REFUSAL))
    return Decision(False, str(ROLE_REFUSAL))


def _decide_key(api_key: Any, action: Action, officine: Any, cas2: bool) -> Decision:
    if api_key.editor_id != officine.editor_id:
        return Decision(False, str(ROLE_REFUSAL))  # never visible: the look-up already 404s
    if api_key.officine_id is not None and api_key.officine_id != officine.pk:
        return Decision(False, str(LIMITED_KEY_REFUSAL))
    needed = ["read"] if action == Action.VIEW else ["write"]
    if action == Action.EXPORT_KEY:
        needed.append("keys:export")
    missing = [s for s in needed if not api_key.has_scope(s)]
    if missing:
        return Decision(False, str(SCOPE_REFUSAL % {"s": ", ".join(missing)}))
    if cas2 and action in (Action.ORDER, Action.EXPORT_KEY) and api_key.officine_id is None:
        return Decision(False, str(CAS2_REFUSAL))
    return ALLOW


def decide_editor(actor: Any, resource: str, verb: str, editor_id: int) -> Decision:
    """May `actor` do `verb` on an editor-wide `resource` (EDITOR_RULES) of this editor?"""
    if is_portal_itself(actor):
        return ALLOW
    api_key = api_key_of(actor)
    if api_key is not None:
        scope = key_scope(resource, verb)
        if api_key.editor_id != editor_id or scope is None:
            return Decision(False, str(ROLE_REFUSAL))
        if not api_key.has_scope(scope):
            return Decision(False, str(SCOPE_REFUSAL % {"s": scope}))
        return ALLOW
    if not is_portal_user(actor):
        return Decision(False, str(ROLE_REFUSAL))
    role = staff_role(actor, editor_id)
    if role in editor_roles(resource, verb):
        return ALLOW
    if role is None and user_scope(actor).is_member:
        return Decision(False, str(OTHER_TENANT_REFUSAL))
    return Decision(False, str(ROLE_REFUSAL))


def require_editor(actor: Any, resource: str, verb: str, editor_id: int) -> None:
    decision = decide_editor(actor, resource, verb, editor_id)
    if not decision:
        raise PermissionDenied(decision.reason)


def require(actor: Any, action: Action | str, target: Any) -> None:
    """`decide`, raising PermissionDenied(reason) when refused (pages: 403; API: problem)."""
    decision = decide(actor, action, target)
    if not decision:
        raise PermissionDenied(decision.reason)


# Authentication records (allauth's session log) written by identity providers whose login
# is strong authentication: a fresh one counts as a re-authentication (psc/adapter.py).
PROVIDER_REAUTH_METHODS = frozenset({"psc"})

REAUTH_REFUSAL = _(
    "Confirm your identity again in the portal (password, TOTP code or Pro Santé Connect) "
    "before exporting a private key, then retry within 5 minutes."
)


def session_recently_reauthenticated(http_request: Any) -> bool:
    """A browser session reaches a private key only within 5 minutes of a re-authentication
    (allauth's ACCOUNT_REAUTHENTICATION_TIMEOUT), whatever the route: page or API."""
    from allauth.account import app_settings as account_settings
    from allauth.account.internal.flows.login import get_authentication_records
    from allauth.account.internal.flows.reauthentication import did_recently_reauthenticate

    if did_recently_reauthenticate(http_request):
        return True
    # Identity providers the portal trusts as much as a password + TOTP (Pro Santé Connect:
    # a CPS card or e-CPS) record their own method; allauth's rule does not know them.
    user = getattr(http_request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    fresh = [
        record
        for record in get_authentication_records(http_request, user)
        if record.get("reauthenticated") and record.get("method") in PROVIDER_REAUTH_METHODS
    ]
    return bool(fresh) and (
        time.time() - fresh[-1].get("at", 0) < account_settings.REAUTHENTICATION_TIMEOUT
    )


def reauthentication_url(http_request: Any, next_url: str) -> str:
    """Where this user confirms their identity, then comes back to `next_url`: the first
    method allauth's adapter offers them (password, TOTP, or Pro Santé Connect for a
    professional without a password)."""
    from allauth.account.adapter import get_adapter
    from django.urls import reverse
    from django.utils.http import urlencode

    methods = get_adapter(http_request).get_reauthentication_methods(http_request.user)
    url = methods[0]["url"] if methods else reverse("account_reauthenticate")
    return url + "?" + urlencode({"next": next_url})


def can_act_on_officine(user: Any, officine: Any) -> bool:
    """May order certificates for this officine (Action.ORDER)."""
    return bool(decide(user, Action.ORDER, officine))


def check_may_act(actor: Any, target: Any, action: Action | str = Action.ORDER) -> None:
    """Defence in depth behind views and API, for services that change `target` (a row of one
    officine, or the officine): `require(actor, action, target)`."""
    require(actor, action, target)


class ScopedViewMixin(LoginRequiredMixin):
    """Base for tenant pages: `roles` who may enter, `model` rows seen through `visible_to`.

    `allow_pharmacists` lets pharmacists in (they still only see their officines). The role
    that let a staff member in counts only for its own editor: `get_object` (and
    `check_object` for views that look objects up themselves) refuses (403) an object the
    user sees only as a pharmacist of another editor's officine, unless the view says which
    `object_action` it does and `decide` allows it.
    """

    model: type[Model]
    roles: tuple[str, ...] = READ_ROLES
    allow_pharmacists = False
    object_action: Action | None = None

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

    def get_object(self, queryset: QuerySet | None = None):
        obj = super().get_object(queryset)  # type: ignore[misc]
        self.check_object(obj)
        return obj

    def check_object(self, obj: Any) -> None:
        """403 unless this user may do this view's action on `obj` (seen: else it is a 404)."""
        if self.object_action is not None:
            require(self.request.user, self.object_action, obj)
            return
        scope = self.scope
        if editor_id_of(obj) == scope.editor_id and scope.role in self.roles:
            return
        if self.allow_pharmacists and scope.is_pharmacist:
            return  # read pages: visible_to already limited the rows to their officines
        raise PermissionDenied(str(OTHER_TENANT_REFUSAL))
