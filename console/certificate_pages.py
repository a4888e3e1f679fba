"""Certificate pages that show alerts beside certificates: a certificate, an officine's
certificates, and a pharmacist's officines (certificates, coverage, requests, alerts)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.views.generic import DetailView, ListView

from certificates import selectors as certificate_selectors
from certificates.coverage import coverage_for_officines
from certificates.models import Certificate, Service
from certificates.views.certificates import CertificateScopedMixin, certificate_context
from certificates.views.common import actable_officines
from notifications.selectors import alert_log, alert_log_for
from officines.models import Officine
from portal.permissions import ScopedViewMixin


class CertificateDetail(CertificateScopedMixin, DetailView):
    template_name = "certificates/certificate_detail.html"

    def get_queryset(self) -> QuerySet[Certificate]:
        return (
            super()
            .get_queryset()
            .with_status()
            .select_related(
                "officine__technical_administrator", "request", "replaces", "revocation_check"
            )
            .defer("request__encrypted_private_key")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        certificate: Certificate = self.object
        user = self.request.user
        context.update(certificate_context(user, certificate))
        context["alert_log"] = alert_log_for(certificate, user=user)
        return context


def officine_panels(user: Any, officines: list[Officine]) -> list[dict[str, Any]]:
    """Coverage, certificates, requests, alerts and rights on a few officines, in five queries."""
    ids = [o.pk for o in officines]
    coverage = coverage_for_officines(ids) if ids else {}
    actable = set(actable_officines(user).filter(pk__in=ids).values_list("pk", flat=True))
    certificates = certificate_selectors.live_certificates_by_officine(user, ids)
    open_requests = certificate_selectors.open_requests_by_officine(user, ids)
    alerts: dict[int, list[Any]] = {pk: [] for pk in ids}
    for alert in alert_log(user, officine_ids=ids, limit=100):
        alerts[alert.certificate.officine_id].append(alert)
    return [
        {
            "officine": officine,
            "coverage": [
                (Service(service).label, state)
                for service, state in coverage.get(officine.pk, {}).items()
            ],
            "certificates": certificates[officine.pk],
            "open_requests": open_requests[officine.pk],
            "alerts": alerts[officine.pk][:20],
            "can_act": officine.pk in actable,
        }
        for officine in officines
    ]


class OfficineCertificates(ScopedViewMixin, DetailView):
    """One officine seen from its certificates: coverage, expiry dates, alerts, contact."""

    model = Officine
    allow_pharmacists = True
    template_name = "certificates/officine_certificates.html"
    context_object_name = "officine"

    def get_queryset(self) -> QuerySet[Officine]:
        return super().get_queryset().select_related("technical_administrator")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["panels"] = officine_panels(self.request.user, [self.object])
        return context


class MyOfficines(ScopedViewMixin, ListView):
    """A pharmacist's landing page: each of their officines with its certificates."""

    model = Officine
    roles = ()
    allow_pharmacists = True
    template_name = "certificates/my_officines.html"
    limit = 20

    def get_queryset(self) -> QuerySet[Officine]:
        return (
            super()
            .get_queryset()
            .select_related("technical_administrator")
            .order_by("raison_sociale", "pk")[: self.limit]
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["panels"] = officine_panels(self.request.user, list(context["object_list"]))
        return context
