"""Pages and API decide alike: resource by resource, role by role (issue 12, items 4 and 10).

Both sides are checked against the one table, `portal.permissions.EDITOR_RULES`: pages read
their `roles` from it, the API its session roles and key scopes, so they cannot drift.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import WebhookEndpoint
from portal.permissions import EDITOR_RULES, editor_roles, key_scope
from tests.helpers.api import api_routes, bearer, make_keys
from tests.helpers.tenants import logged_in

pytestmark = pytest.mark.django_db

ROLES = ("admin", "operator", "viewer")


def page_probes(tenant) -> dict[tuple[str, str], tuple[str, str]]:
    """(resource, verb) -> (method, URL) of a page doing it; the body is irrelevant: a refusal
    is a 403 before any form is read."""
    hook = WebhookEndpoint.objects.create(
        editor=tenant.editor, url="https://lgo.example/h", events=["certificate.issued"]
    )
    return {
        ("officines", "view"): ("get", reverse("officines:list")),
        ("officines", "manage"): ("get", reverse("officines:create")),
        ("certificates", "view"): ("get", reverse("certificates:list")),
        ("certificates", "manage"): ("get", reverse("certificates:import")),
        ("campaigns", "view"): ("get", reverse("certificates:campaign_list")),
        ("campaigns", "manage"): ("get", reverse("certificates:campaign_create")),
        ("webhooks", "view"): ("get", reverse("notifications:webhook_detail", args=[hook.pk])),
        ("webhooks", "manage"): ("post", reverse("notifications:webhook_toggle", args=[hook.pk])),
        ("api_keys", "view"): ("get", reverse("settings_api_keys")),
        ("api_keys", "manage"): ("post", reverse("settings_api_keys")),
        ("team", "view"): ("get", reverse("team")),
        ("team", "manage"): ("post", reverse("invitation_revoke", args=[10**9])),
        ("settings", "view"): ("get", reverse("settings")),
        ("settings", "manage"): ("post", reverse("notifications:policy_update")),
        ("audit", "view"): ("get", reverse("audit_log")),
    }


# (resource, verb) -> (method, URL) of the API doing it; resources absent here have no API.
API_PROBES = {
    ("officines", "view"): ("get", "/api/v1/officines/"),
    ("officines", "manage"): ("post", "/api/v1/officines/"),
    ("certificates", "view"): ("get", "/api/v1/certificates/"),
    ("certificates", "manage"): ("post", "/api/v1/certificates/import/"),
    ("campaigns", "view"): ("get", "/api/v1/campaigns/"),
    ("campaigns", "manage"): ("post", "/api/v1/campaigns/"),
    ("webhooks", "view"): ("get", "/api/v1/webhooks/"),
    ("webhooks", "manage"): ("post", "/api/v1/webhooks/"),
}


def allowed(response) -> bool:
    """Past the permission check: anything but 403 (400 for an empty body is fine)."""
    assert response.status_code < 500, response.content[:300]
    return response.status_code != 403


def test_every_rule_has_a_page_probe(tenant_a):
    assert set(page_probes(tenant_a)) == set(EDITOR_RULES)


def test_pages_and_api_follow_the_same_table_for_every_role(tenant_a):
    pages = page_probes(tenant_a)
    for role in ROLES:
        client = logged_in(getattr(tenant_a, role))
        for rule, (method, url) in pages.items():
            expected = role in editor_roles(*rule)
            assert allowed(getattr(client, method)(url)) == expected, ("page", role, rule)
            if rule in API_PROBES:
                method, url = API_PROBES[rule]
                response = getattr(client, method)(url, {}, content_type="application/json")
                assert allowed(response) == expected, ("API", role, rule, response.content)


def test_api_keys_follow_the_same_table(tenant_a):
    keys = make_keys(tenant_a)
    for name, raw, scopes in (
        ("read", keys.read, {"read"}),
        ("write", keys.write, {"read", "write"}),
    ):
        client = bearer(raw)
        for rule, (method, url) in API_PROBES.items():
            response = getattr(client, method)(url, {}, content_type="application/json")
            assert allowed(response) == (key_scope(*rule) in scopes), (
                name,
                rule,
                response.content,
            )


def test_page_only_resources_have_no_api_route():
    """API keys, team, settings and audit are pages only (key scope None in the table)."""
    page_only = {r for (r, _v), (_roles, scope) in EDITOR_RULES.items() if scope is None}
    assert page_only == {"api_keys", "team", "settings", "audit"}
    names = " ".join(name for name, _params in api_routes())
    for word in ("api-key", "apikey", "member", "invitation", "audit", "setting"):
        assert word not in names, word
