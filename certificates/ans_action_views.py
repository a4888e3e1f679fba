"""Pages: certificates to revoke or reissue at ANS (officine closed or renamed), worksheet."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.generic import ListView, View

from certificates.ans_actions import flagged, flagged_counts, worksheet_rows
from certificates.models import AnsAction, Certificate
from portal.audit import audit_record
from portal.csv_stream import csv_response
from portal.permissions import ScopedViewMixin


def _filtered(queryset, request: HttpRequest):
    action = request.GET.get("action")
    if action in AnsAction.values:
        queryset = queryset.filter(ans_action=action)
    officine = request.GET.get("officine", "")
    if officine.isdigit():
        queryset = queryset.filter(officine_id=int(officine))
    return queryset


class AnsActionList(ScopedViewMixin, ListView):
    """Live certificates flagged « à révoquer » or « à réémettre », oldest flag first."""

    model = Certificate
    allow_pharmacists = True
    paginate_by = 50
    template_name = "certificates/ans_action_list.html"

    def get_queryset(self):
        queryset = flagged(super().get_queryset())
        return (
            _filtered(queryset, self.request)
            .select_related("officine")
            .defer("pem", "chain_pem", "issuer_dn")
            .order_by("ans_action_since", "pk")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["counts"] = flagged_counts(super().get_queryset())
        query = self.request.GET.copy()
        query.pop("page", None)
        context["filter_query"] = query.urlencode()
        return context


class AnsActionWorksheet(ScopedViewMixin, View):
    model = Certificate
    allow_pharmacists = True

    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = _filtered(self.get_queryset(), request)
        audit_record(
            action="certificate.ans_actions_worksheet",
            actor=request.user,
            editor=self.scope.editor_id,
            request=request,
            details={k: v for k, v in request.GET.items() if v},
        )
        stamp = timezone.localdate().isoformat()
        return csv_response(
            f"certificats-a-revoquer-ou-reemettre-{stamp}.csv", worksheet_rows(queryset)
        )
