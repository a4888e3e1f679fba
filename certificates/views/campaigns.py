"""Renewal campaign pages: the list, launching one, following it, its ZIP and worksheet."""

from __future__ import annotations

from itertools import chain
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.generic import ListView, View
from django_htmx.http import HttpResponseClientRefresh

from certificates import campaigns
from certificates.campaign_agents import campaign_agent_rows
from certificates.filters import CertificateFilter
from certificates.forms import CampaignForm
from certificates.models import CampaignStatus, Certificate, RenewalCampaign
from certificates.views.common import PAGE_SIZE, POLL_SECONDS
from officines.models import DelegationMode
from portal.audit import audit_record
from portal.csv_stream import csv_response
from portal.form_errors import apply_service_errors, service_messages
from portal.models import Editor
from portal.permissions import ScopedViewMixin, editor_roles
from portal.tenancy import user_scope

CAMPAIGN_CANDIDATES_LIMIT = 200


class CampaignList(ScopedViewMixin, ListView):
    model = RenewalCampaign
    paginate_by = PAGE_SIZE
    template_name = "certificates/campaign_list.html"

    def get_queryset(self) -> QuerySet[RenewalCampaign]:
        return super().get_queryset().select_related("created_by").order_by("-created_at", "-pk")


class CampaignCreate(ScopedViewMixin, View):
    """Choose certificates (ticked in a filtered list, or all expiring within N days), launch."""

    model = RenewalCampaign
    roles = editor_roles("campaigns", "manage")
    template_name = "certificates/campaign_form.html"

    def candidates(self) -> tuple[CertificateFilter, list[Certificate], bool]:
        queryset = (
            self.editor_certificates()
            .exclude(officine__delegation_mode=DelegationMode.PHARMACIEN)
            .live()
            .filter(officine__is_active=True)
            .with_status()
            .select_related("officine")
            .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        )
        filterset = CertificateFilter.for_page(self.request.GET, queryset)
        rows = list(filterset.qs.order_by("usable_until", "pk")[: CAMPAIGN_CANDIDATES_LIMIT + 1])
        return filterset, rows[:CAMPAIGN_CANDIDATES_LIMIT], len(rows) > CAMPAIGN_CANDIDATES_LIMIT

    def editor_certificates(self) -> QuerySet[Certificate]:
        """The editor's own certificates (never another editor's, seen as a pharmacist)."""
        return Certificate.objects.visible_to(self.request.user).of_editor(self.scope.editor_id)

    def renewed_by_officine(self, filterset: CertificateFilter) -> list[Certificate]:
        """Cas 2 certificates the same filter finds: « à renouveler par l'officine »."""
        queryset = (
            self.editor_certificates()
            .filter(officine__delegation_mode=DelegationMode.PHARMACIEN, officine__is_active=True)
            .live()
            .with_status()
            .select_related("officine")
            .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        )
        if filterset.is_bound and not filterset.is_valid():
            return []
        return list(filterset.filter_queryset(queryset).order_by("not_after", "pk")[:50])

    def render_form(self, form: CampaignForm, selected: set[int], status: int = 200):
        filterset, rows, truncated = self.candidates()
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "filter_form": filterset.form,
                "candidates": rows,
                "by_officine": self.renewed_by_officine(filterset),
                "truncated": truncated,
                "limit": CAMPAIGN_CANDIDATES_LIMIT,
                "selected": selected,
            },
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        form = CampaignForm(
            initial={
                "requester_email": request.user.email,
                "name": _("Renewals %(date)s") % {"date": timezone.localdate().isoformat()},
            }
        )
        return self.render_form(form, set())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CampaignForm(request.POST)
        raw_ids = request.POST.getlist("certificate_ids")
        selected = {int(v) for v in raw_ids if v.isdigit()}
        if form.is_valid():
            data = form.cleaned_data
            selection = data["mode"] == "selection"
            try:
                campaign = campaigns.campaign_create(
                    editor=Editor.objects.get(pk=self.scope.editor_id),
                    actor=request.user,
                    name=data["name"],
                    requester_email=data["requester_email"],
                    contact_email=data.get("contact_email") or "",
                    certificate_ids=sorted(selected) if selection else None,
                    within_days=None if selection else data["within_days"],
                    key_mode=data.get("key_mode") or "",
                    http_request=request,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc, {"certificate_ids": None})
            else:
                messages.success(request, _("Campaign launched."))
                return HttpResponseRedirect(campaign.get_absolute_url())
        return self.render_form(form, selected, status=400)


class CampaignScopedMixin(ScopedViewMixin):
    model = RenewalCampaign

    def get_campaign(self, pk: int) -> RenewalCampaign:
        return get_object_or_404(self.get_queryset().select_related("created_by"), pk=pk)


def campaign_context(user: Any, campaign: RenewalCampaign) -> dict[str, Any]:
    running = campaign.status in (CampaignStatus.PENDING, CampaignStatus.RUNNING)
    return {
        "campaign": campaign,
        "running": running,
        # Pending or running with no progress for CAMPAIGN_STALL_TIMEOUT: its task was lost;
        # the page says so and offers "Resume" (beat's revive_campaigns will also).
        "stalled_since": campaigns.campaign_stalled_since(campaign),
        "poll_seconds": POLL_SECONDS,
        "can_write": user_scope(user).can_write,
    }


class CampaignDetail(CampaignScopedMixin, View):
    template_name = "certificates/campaign_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self.get_campaign(pk)
        context = campaign_context(request.user, campaign)
        context["requests"] = campaign_agent_rows(request.user, campaign)
        return render(request, self.template_name, context)


class CampaignProgress(CampaignScopedMixin, View):
    """Polled by htmx while the campaign runs; the final fragment stops the polling."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self.get_campaign(pk)
        context = campaign_context(request.user, campaign)
        if getattr(request, "htmx", False) and not context["running"]:
            return HttpResponseClientRefresh()
        return render(request, "certificates/_campaign_progress.html", context)


class CampaignZip(CampaignScopedMixin, View):
    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        campaign = self.get_campaign(pk)
        response = StreamingHttpResponse(
            campaigns.campaign_export(campaign=campaign, actor=request.user, http_request=request),
            content_type="application/zip",
        )
        response["Content-Disposition"] = content_disposition_header(
            True, campaigns.campaign_zip_filename(campaign)
        )
        response["Cache-Control"] = "no-store"
        return response


class CampaignWorksheet(CampaignScopedMixin, View):
    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        campaign = self.get_campaign(pk)
        audit_record(
            action="campaign.download_worksheet",
            actor=request.user,
            target=campaign,
            request=request,
        )
        rows = chain(
            [campaigns.worksheet_header()],
            (entry.row for entry in campaigns.campaign_entries(campaign)),
        )
        filename = campaigns.campaign_zip_filename(campaign)[: -len(".zip")] + ".csv"
        return csv_response(filename, rows)


class CampaignResume(CampaignScopedMixin, View):
    roles = editor_roles("campaigns", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self.get_campaign(pk)
        try:
            campaigns.campaign_resume(campaign=campaign, actor=request.user, http_request=request)
        except ValidationError as exc:
            messages.error(request, " ".join(service_messages(exc)))
        else:
            messages.success(request, _("The campaign is running again."))
        return HttpResponseRedirect(campaign.get_absolute_url())
