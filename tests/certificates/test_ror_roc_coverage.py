"""ROR and ROC in the coverage, per editor: the four SEGUR services by default, ROR/ROC for
the editors whose LGO uses them (matrix, dashboard, filters)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from certificates.coverage import coverage_for_officine, followed_services
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_followed_services_default_and_order():
    assert followed_services("") == ["DMP", "INSI", "PSC", "MSSANTE"]
    assert followed_services("ROC,dmp,nonsense") == ["DMP", "ROC"]
    assert followed_services(["ROR", "INSI"]) == ["INSI", "ROR"]


def test_ror_certificate_covers_ror(tenant_a, make_certificate):
    make_certificate(tenant_a.officine, services=("ROR",))
    matrix = coverage_for_officine(tenant_a.officine)
    assert matrix["ROR"] == "covered" and matrix["ROC"] == "missing"


def test_editor_follows_ror_in_matrix_dashboard_and_filter(tenant_a, make_certificate, client_for):
    make_certificate(tenant_a.officine, services=("ROR",))
    admin = client_for(tenant_a.admin)
    page = admin.get(reverse("officines:list"))
    assert [code for code, _label in page.context["services"]] == ["DMP", "INSI", "PSC", "MSSANTE"]
    response = admin.post(
        reverse("settings_coverage"), {"services": ["DMP", "INSI", "PSC", "MSSANTE", "ROR"]}
    )
    assert response.status_code == 302
    tenant_a.editor.refresh_from_db()
    assert tenant_a.editor.coverage_services == "DMP,INSI,PSC,MSSANTE,ROR"
    assert AuditEvent.objects.filter(action="editor.coverage_services").exists()
    viewer = client_for(tenant_a.viewer)
    page = viewer.get(reverse("officines:list"))
    assert [code for code, _label in page.context["services"]][-1] == "ROR"
    dashboard = viewer.get(reverse("dashboard"))
    assert [s["code"] for s in dashboard.context["coverage"].services][-1] == "ROR"
    covered = viewer.get(
        reverse("officines:list"), {"coverage_service": "ROR", "coverage_state": "covered"}
    )
    assert [o.pk for o in covered.context["object_list"]] == [tenant_a.officine.pk]
    # Only admins choose.
    assert viewer.get(reverse("settings_coverage")).status_code == 403
