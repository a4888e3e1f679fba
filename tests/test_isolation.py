"""Tenant isolation across every route: users of B never get anything of A.

Routes are discovered from the URL resolver, so a new route with an object id
fails here until it says which object of tenant A it shows.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.helpers.tenants import administrator_change_for, multi_relation_users

pytestmark = pytest.mark.django_db

# Routes outside the tenant data (auth, static, admin, i18n).
PUBLIC_PREFIXES = (
    "admin:",
    "account_",
    "mfa_",
    "set_language",
    "invitation_accept",
    "notifications:calendar_feed",  # a secret token, no session (tests/notifications)
    # The API has its own walker over every api:* route, for API keys (read, write, limited
    # to one officine) and session roles: tests/api/test_isolation.py.
    "api:",
)


def route_names(
    resolver: URLResolver | None = None, namespace: str = ""
) -> list[tuple[str, list[str]]]:
    """Every named route with the names of its parameters."""
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found.extend(route_names(entry, inner))
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((namespace + entry.name, list(entry.pattern.converters)))
    return found


def objects_of(tenant) -> dict[str, object]:
    """For each route taking an id, the object of `tenant` it addresses."""
    from portal.models import Invitation, Membership
    from portal.services import invitation_create
    from tests.notifications.isolation import notification_objects
    from tests.ui.isolation_objects import certificate_ui_objects

    invitation = Invitation.objects.filter(editor=tenant.editor).first()
    if invitation is None:
        invitation, _ = invitation_create(editor=tenant.editor, email="pending@x.fr")
    officine_import = ui_import_of(tenant)
    return {
        "officines:detail": tenant.officine,
        "officines:update": tenant.officine,
        "officines:deactivate": tenant.officine,
        "officines:administrator_detail": tenant.administrator,
        "officines:administrator_update": tenant.administrator,
        "officines:officine_habilitation": tenant.officine,
        "officines:main_contact": tenant.officine,
        "officines:access_rpps": pharmacist_access_of(tenant),
        "officines:access_remove": pharmacist_access_of(tenant),
        "officines:change_detail": administrator_change_for(tenant),
        "officines:change_worksheet": administrator_change_for(tenant),
        "officines:change_process": administrator_change_for(tenant),
        "officines:change_cancel": administrator_change_for(tenant),
        "membership_role": Membership.objects.get(user=tenant.viewer),
        "membership_remove": Membership.objects.get(user=tenant.viewer),
        "invitation_revoke": invitation,
        "officines:import_detail": officine_import,
        "officines:import_progress": officine_import,
        "officines:import_confirm": officine_import,
        **notification_objects(tenant),
        **certificate_ui_objects(tenant),
    }


def pharmacist_access_of(tenant):
    """The pharmacist's access to `tenant`'s mode-pharmacien officine (officine page)."""
    from officines.models import PharmacistAccess

    return PharmacistAccess.objects.get(user=tenant.pharmacist, officine=tenant.pharmacist_officine)


def ui_import_of(tenant):
    """A checked CSV import of `tenant`, waiting for confirmation (officines import pages)."""
    from officines.models import ImportStatus, OfficineImport

    officine_import = OfficineImport.objects.filter(editor=tenant.editor).first()
    if officine_import is None:
        officine_import = OfficineImport.objects.create(
            editor=tenant.editor,
            content="FINESS;Raison sociale\n760021832;PHARMACIE IMPORTEE\n",
            status=ImportStatus.VALIDATED,
            total=1,
            to_create=1,
        )
    return officine_import


def tenant_routes() -> list[tuple[str, list[str]]]:
    return [(n, p) for n, p in route_names() if not n.startswith(PUBLIC_PREFIXES)]


def test_every_route_with_parameters_is_mapped(tenant_a):
    mapped = objects_of(tenant_a)
    missing = [name for name, params in tenant_routes() if params and name not in mapped]
    assert missing == [], f"routes without an isolation mapping: {missing}"


@pytest.mark.parametrize("role", ["admin", "operator", "viewer", "pharmacist"])
def test_other_tenant_objects_are_404_on_every_route(tenant_a, tenant_b, client_for, role):
    client = client_for(getattr(tenant_b, role))
    for name, obj in objects_of(tenant_a).items():
        url = reverse(name, args=[obj.pk])
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            # A role may be refused the whole page (403) before any lookup; never 2xx/3xx.
            assert response.status_code in (404, 403, 405), (
                role,
                name,
                method,
                response.status_code,
            )
            if response.status_code == 403:
                # Only when the same role is refused on its own tenant's object too.
                own = objects_of(tenant_b)[name]
                assert getattr(client, method)(reverse(name, args=[own.pk])).status_code == 403


def body_of(response) -> str:
    """The text of a response, streamed ones (CSV exports) included."""
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize("role", ["admin", "operator", "viewer", "pharmacist"])
def test_lists_never_show_other_tenant_rows(tenant_a, tenant_b, client_for, role):
    client = client_for(getattr(tenant_b, role))
    secrets = [
        tenant_a.officine.finess,
        tenant_a.pharmacist_officine.finess,
        tenant_a.administrator.card_number,
        tenant_a.admin.email,
        tenant_a.viewer.email,
    ]
    for name, params in tenant_routes():
        if params:
            continue
        response = client.get(reverse(name), follow=True)
        body = body_of(response)
        for secret in secrets:
            assert secret not in body, (role, name, secret)
        for query in (tenant_a.officine.finess, tenant_a.officine.raison_sociale):
            searched = body_of(client.get(reverse(name), {"q": query}, follow=True))
            assert tenant_a.officine.get_absolute_url() not in searched


def test_anonymous_is_sent_to_login_everywhere(tenant_a, client):
    for name, obj in objects_of(tenant_a).items():
        response = client.get(reverse(name, args=[obj.pk]))
        assert response.status_code in (302, 405)
        if response.status_code == 302:
            assert reverse("account_login") in response.url


# --------------------------------------------------------------------------- multi-relation


# POSTs that only read (Action.VIEW): asking IGC Santé whether a certificate is revoked.
READING_POSTS = ("certificates:revocation_check",)


def test_multi_relation_users_never_act_across_tenants_on_any_route(tenant_a, tenant_b, client_for):
    """Every route with an object, GET and POST: the other tenant's rows, seen (if at all)
    through a mode éditeur officine, are never changed (POST: 403, 404 or 405), and no
    page fails."""
    for shape, (user, other) in multi_relation_users(tenant_a, tenant_b).items():
        client = client_for(user)
        for name, obj in objects_of(other).items():
            url = reverse(name, args=[obj.pk])
            got = client.get(url).status_code
            assert got < 500, (shape, name, "get", got)
            posted = client.post(url).status_code
            refused = (403, 404, 405) + ((302,) if name in READING_POSTS else ())
            assert posted in refused, (shape, name, "post", posted)
