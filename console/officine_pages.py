"""The officine list (with coverage), its CSV export, the change of administrator of a
selection from it, and the officine page that combines identity, certificates, coverage,
requests, installations and alerts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import DetailView, View
from django_filters.views import FilterView

from certificates import selectors as certificate_selectors
from certificates.coverage import (
    CoverageState,
    coverage_for_officine,
    coverage_for_officines,
    followed_services,
)
from certificates.models import (
    Certificate,
    Service,
)
from console.officine_filters import OfficineFilter
from notifications.selectors import alert_histories
from officines.access_views import staff_accesses
from officines.administrator_changes import administrator_change_request
from officines.csv_import import columns
from officines.finess_check import finess_differences
from officines.forms import AdministratorChoiceForm
from officines.models import Officine, TechnicalAdministrator
from officines.views import finess_panel, habilitation_context, may_manage
from portal.exports import FilteredCsvExport
from portal.pagination import DeferredJoinPaginator
from portal.permissions import WRITE_ROLES, ScopedViewMixin, can_act_on_officine
from portal.tenancy import user_scope

CERTIFICATES_ON_DETAIL = 50
EXPORT_BATCH = 1000

_STATE_LABELS = dict(CoverageState.choices)
# Compact names for list badges (the full name stays in the title and for screen readers).
_SHORT_LABELS = {"PSC": "PSC"}
# Shown beside the service name so the state never rests on colour alone.
_STATE_SYMBOLS = {
    CoverageState.COVERED: "✓",
    CoverageState.EXPIRING: "!",
    CoverageState.EXPIRED: "✗",
    CoverageState.MISSING: "\u2013",  # en dash
}


def coverage_services(user=None) -> list[tuple[str, str]]:
    """(code, label) of the services shown in coverage columns and matrices: those the
    user's editor follows (`Editor.coverage_services`; the four SEGUR services by default)."""
    followed = followed_services(user_scope(user).coverage_services if user else None)
    return [(code, str(Service(code).label)) for code in followed]


def coverage_cells(matrix: dict[str, str] | None, user=None) -> list[dict[str, str]]:
    """A coverage matrix as an ordered list of cells for templates."""
    matrix = matrix or {}
    cells = []
    for code, label in coverage_services(user):
        state = matrix.get(code, CoverageState.MISSING)
        cells.append(
            {
                "service": code,
                "label": label,
                "state": state,
                "state_label": _STATE_LABELS[state],
                "symbol": _STATE_SYMBOLS[state],
                "short": _SHORT_LABELS.get(code, label),
            }
        )
    return cells


# --------------------------------------------------------------------------- officines


class OfficineList(ScopedViewMixin, FilterView):
    model = Officine
    filterset_class = OfficineFilter
    paginate_by = 50
    paginator_class = DeferredJoinPaginator  # deep pages of 10,000 officines (bench/pages.py)
    template_name = "officines/officine_list.html"
    allow_pharmacists = True

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("technical_administrator")
            .with_habilitated_administrator()
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        officines = list(context["object_list"])
        # One query for the coverage of the whole page.
        coverage = coverage_for_officines([o.pk for o in officines])
        to_verify = finess_differences([o.pk for o in officines], user=self.request.user)
        for officine in officines:
            officine.coverage_cells = coverage_cells(coverage.get(officine.pk), self.request.user)
            officine.finess_check_info = to_verify.get(officine.pk)
        context["object_list"] = officines
        context["services"] = coverage_services(self.request.user)
        context["legend"] = [
            {"state": state, "label": _STATE_LABELS[state], "symbol": _STATE_SYMBOLS[state]}
            for state in CoverageState
        ]
        query = self.request.GET.copy()
        query.pop("page", None)
        context["filter_query"] = query.urlencode()
        # The secondary filters start folded, unless one is in use (or wrong).
        context["advanced_filters"] = any(
            value for key, value in query.items() if key != "q"
        ) or bool(self.filterset.errors)
        return context


class OfficineExport(FilteredCsvExport):
    """The filtered officine list as CSV (same columns as the import, plus coverage)."""

    model = Officine
    filterset_class = OfficineFilter
    audit_action = "officine.export"
    filename_prefix = "officines"

    def export_queryset(self) -> QuerySet:
        return self.get_queryset().select_related("technical_administrator")

    def export_rows(self, queryset: QuerySet) -> Iterator[list[object]]:
        return export_rows(queryset, self.request.user)


def export_rows(queryset: QuerySet, user=None) -> Iterator[list[object]]:
    """Header then one line per officine; coverage computed per batch of 1000 (one query each)."""
    services = coverage_services(user)
    yield [
        *columns.TEMPLATE_HEADER,
        _("Département"),
        _("Environment"),
        _("Status"),
        _("Technical administrator"),
        *(_("Coverage %(service)s") % {"service": label} for _code, label in services),
    ]
    batch: list[Officine] = []
    for officine in queryset.iterator(chunk_size=EXPORT_BATCH):
        batch.append(officine)
        if len(batch) == EXPORT_BATCH:
            yield from _export_batch(batch, services)
            batch = []
    if batch:
        yield from _export_batch(batch, services)


def _export_batch(batch: list[Officine], services: list[tuple[str, str]]) -> Iterator[list[object]]:
    coverage = coverage_for_officines([o.pk for o in batch])
    for o in batch:
        administrator = o.technical_administrator
        matrix = coverage.get(o.pk, {})
        yield [
            o.finess,
            o.finess_juridique,
            o.raison_sociale,
            o.address,
            o.postal_code,
            o.city,
            o.notification_email,
            o.cc_email,
            o.delegation_mode,
            administrator.card_number if administrator else "",
            o.department,
            o.environment,
            _("Active") if o.is_active else _("Inactive"),
            administrator.full_name if administrator else "",
            *(_STATE_LABELS[matrix.get(code, CoverageState.MISSING)] for code, _label in services),
        ]


@dataclass(frozen=True)
class Timeline:
    """Geometry of one certificate bar on a shared time axis (percentages as SVG strings)."""

    certificate: Certificate
    x: str
    width: str
    today: str
    label: str


def certificate_timelines(certificates: list[Certificate], now: datetime) -> list[Timeline]:
    """Bars from not_before to not_after on one axis covering every certificate and today."""
    if not certificates:
        return []
    start = min([c.not_before for c in certificates] + [now])
    end = max([c.not_after for c in certificates] + [now])
    span = (end - start).total_seconds() or 1.0

    def pct(moment: datetime) -> float:
        return (moment - start).total_seconds() / span * 100

    today = f"{pct(now):.2f}"
    timelines = []
    for certificate in certificates:
        x = pct(certificate.not_before)
        width = max(pct(certificate.not_after) - x, 0.5)
        label = _("Valid from %(start)s to %(end)s; today is marked.") % {
            "start": date_format(timezone.localtime(certificate.not_before), "SHORT_DATE_FORMAT"),
            "end": date_format(timezone.localtime(certificate.not_after), "SHORT_DATE_FORMAT"),
        }
        timelines.append(Timeline(certificate, f"{x:.2f}", f"{width:.2f}", today, label))
    return timelines


class OfficineDetail(ScopedViewMixin, DetailView):
    model = Officine
    template_name = "officines/officine_detail.html"
    allow_pharmacists = True

    def get_queryset(self):
        return super().get_queryset().select_related("technical_administrator", "editor")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        officine = self.object
        user = self.request.user
        now = timezone.now()
        context["can_act"] = can_act_on_officine(user, officine)
        scope = self.scope
        if scope.role is not None and scope.editor_id == officine.editor_id:
            context["pharmacist_accesses"] = list(
                staff_accesses(user, officine.editor_id)
                .filter(officine=officine)
                .select_related("user")
                .order_by("user__email")
            )
            context["can_edit_accesses"] = scope.role in WRITE_ROLES
        context["coverage"] = coverage_cells(coverage_for_officine(officine), user)
        context.update(habilitation_context(officine, user, can_act=may_manage(user, officine)))
        certificates = certificate_selectors.officine_certificates(
            user, officine.pk, now=now, limit=CERTIFICATES_ON_DETAIL
        )
        context["timelines"] = certificate_timelines(certificates, now)
        context["ans_action_counts"] = certificate_selectors.officine_ans_actions(user, officine.pk)
        context.update(finess_panel(officine, user))
        context["certificate_count"] = len(certificates)
        context["certificates_truncated"] = len(certificates) == CERTIFICATES_ON_DETAIL
        context["open_requests"] = certificate_selectors.open_requests_by_officine(
            user, [officine.pk], limit=50
        )[officine.pk]
        context["installations"] = certificate_selectors.officine_installations(user, officine.pk)
        context.update(self._alert_context(officine, certificates))
        return context

    def _alert_context(self, officine: Officine, certificates: list[Certificate]) -> dict:
        """Alert history per certificate, through the notifications app's selector and include.

        One query finds the certificates that have alerts; the selector then runs only for
        those (a handful per officine), so the page stays bounded by the certificates shown.
        """
        return {"alert_histories": alert_histories(certificates, user=self.request.user)}


SELECTION_PREVIEW = 20


# --------------------------------------------------------------------------- administrator change


class OfficineReassign(ScopedViewMixin, View):
    """Change the technical administrator of officines picked by checkbox or by filter.

    GET shows the selection and the choice; a first POST asks for confirmation; the second
    POST (with `confirm`) records a pending change (form 503) through
    `administrator_change_request`: nothing changes until ANS has processed it.
    """

    model = Officine
    roles = WRITE_ROLES
    template_name = "officines/officine_reassign.html"

    def _selection(self, data: QueryDict) -> tuple[QuerySet, list[tuple[str, str]]]:
        """The chosen officines (scoped) and the hidden fields that carry the choice."""
        queryset = self.get_queryset()
        if data.get("all"):
            carried = [
                (key, value)
                for key, values in data.lists()
                if key not in ("page", "csrfmiddlewaretoken", "administrator", "confirm")
                for value in values
            ]
            filterset = OfficineFilter(data, queryset=queryset, request=self.request)
            selected = filterset.qs if filterset.is_valid() else queryset.none()
            return selected.order_by("raison_sociale", "id"), carried
        ids = sorted({int(v) for v in data.getlist("officine") if v.isdigit()})
        return queryset.filter(pk__in=ids), [("officine", str(pk)) for pk in ids]

    def _administrators(self) -> QuerySet:
        return TechnicalAdministrator.objects.visible_to(self.request.user).order_by(
            "full_name", "id"
        )

    def _render(self, request, *, selected, carried, form, confirming=False, administrator=None):
        count = selected.count()
        if count == 0:
            messages.error(request, _("Select at least one officine."))
            return redirect("officines:list")
        context = {
            "form": form,
            "count": count,
            "sample": list(selected.select_related("technical_administrator")[:SELECTION_PREVIEW]),
            "carried": carried,
            "confirming": confirming,
            "administrator": administrator,
        }
        return render(request, self.template_name, context)

    def get(self, request: HttpRequest) -> HttpResponse:
        selected, carried = self._selection(request.GET)
        form = AdministratorChoiceForm(administrators=self._administrators())
        return self._render(request, selected=selected, carried=carried, form=form)

    def post(self, request: HttpRequest) -> HttpResponse:
        selected, carried = self._selection(request.POST)
        form = AdministratorChoiceForm(request.POST, administrators=self._administrators())
        if not form.is_valid():
            return self._render(request, selected=selected, carried=carried, form=form)
        administrator = form.cleaned_data["administrator"]
        if not request.POST.get("confirm"):
            return self._render(
                request,
                selected=selected,
                carried=carried,
                form=form,
                confirming=True,
                administrator=administrator,
            )
        try:
            change = administrator_change_request(
                officines=list(
                    selected.only(
                        "id", "editor_id", "finess", "delegation_mode", "technical_administrator_id"
                    )
                ),
                new_administrator=administrator,
                actor=request.user,
                request=request,
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return self._render(request, selected=selected, carried=carried, form=form)
        except PermissionDenied as exc:
            messages.error(request, str(exc) or _("You may not change these officines."))
            return self._render(request, selected=selected, carried=carried, form=form)
        count = change.items.count()
        messages.success(
            request,
            ngettext(
                "Change of technical administrator recorded for %(count)d officine: send the "
                "form 503 to ANS with its worksheet, then mark it processed.",
                "Change of technical administrator recorded for %(count)d officines: send the "
                "form 503 to ANS with its worksheet, then mark it processed.",
                count,
            )
            % {"count": count},
        )
        return redirect(change)


# --------------------------------------------------------------------------- administrators
