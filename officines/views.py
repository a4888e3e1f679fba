"""HTML pages for officines, technical administrators and CSV import/export of officines."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import CreateView, DetailView, FormView, UpdateView, View
from django_filters.views import FilterView

from certificates.ans_actions import flagged_counts
from certificates.coverage import (
    CoverageState,
    coverage_for_officine,
    coverage_for_officines,
    followed_services,
)
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    Certificate,
    CertificateRequest,
    Installation,
    Service,
)
from finess import compare as finess_compare
from finess import selectors as finess_selectors
from officines import finess_rules
from officines.access_views import staff_accesses
from officines.administrator_changes import administrator_change_request
from officines.csv_import import columns, reading, stored, write
from officines.filters import AdministratorFilter, OfficineFilter
from officines.finess_check import finess_check_officine, finess_differences
from officines.forms import (
    AdministratorChoiceForm,
    ImportConfirmForm,
    OfficineForm,
    OfficineImportForm,
    TechnicalAdministratorForm,
)
from officines.models import (
    DelegationMode,
    ImportStatus,
    Officine,
    OfficineImport,
    TechnicalAdministrator,
)
from officines.selectors import officine_habilitations
from officines.services import administrator_save, officine_deactivate, officine_save
from portal import outbox
from portal.audit import audit_record
from portal.csv_stream import csv_response
from portal.pagination import DeferredJoinPaginator
from portal.permissions import WRITE_ROLES, ScopedViewMixin, can_act_on_officine, editor_roles
from portal.tenancy import user_scope

CERTIFICATES_ON_DETAIL = 50
EXPORT_BATCH = 1000
SELECTION_PREVIEW = 20

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


class OfficineExport(ScopedViewMixin, View):
    """The filtered officine list as CSV (same columns as the import, plus coverage)."""

    model = Officine

    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = self.get_queryset().select_related("technical_administrator")
        filterset = OfficineFilter(request.GET, queryset=queryset, request=request)
        rows = filterset.qs if filterset.is_valid() else queryset.none()
        audit_record(
            action="officine.export",
            actor=request.user,
            editor=self.scope.editor_id,
            request=request,
            details={"filters": {k: v for k, v in request.GET.items() if k != "page" and v}},
        )
        stamp = timezone.localdate().isoformat()
        return csv_response(f"officines-{stamp}.csv", export_rows(rows, request.user))


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
        certificates = list(
            Certificate.objects.visible_to(user)
            .filter(officine=officine)
            .with_status(now)
            .order_by("-not_after", "-id")[:CERTIFICATES_ON_DETAIL]
        )
        context["timelines"] = certificate_timelines(certificates, now)
        context["ans_action_counts"] = flagged_counts(
            Certificate.objects.visible_to(user).filter(officine=officine)
        )
        context.update(finess_panel(officine, user))
        context["certificate_count"] = len(certificates)
        context["certificates_truncated"] = len(certificates) == CERTIFICATES_ON_DETAIL
        context["open_requests"] = list(
            CertificateRequest.objects.visible_to(user)
            .filter(officine=officine, status__in=OPEN_REQUEST_STATUSES)
            .order_by("-created_at")[:50]
        )
        context["installations"] = list(
            Installation.objects.visible_to(user)
            .filter(certificate__officine=officine)
            .select_related("certificate")
            .order_by("-installed_at")[:50]
        )
        context.update(self._alert_context(officine, certificates))
        return context

    def _alert_context(self, officine: Officine, certificates: list[Certificate]) -> dict:
        """Alert history per certificate, through the notifications app's selector and include.

        One query finds the certificates that have alerts; the selector then runs only for
        those (a handful per officine), so the page stays bounded by the certificates shown.
        """
        from notifications.models import AlertLog, AlertStatus
        from notifications.selectors import alert_log_for

        shown = {certificate.pk: certificate for certificate in certificates}
        with_alerts = set(
            AlertLog.objects.visible_to(self.request.user)
            .filter(certificate_id__in=list(shown))
            .exclude(status=AlertStatus.SKIPPED)
            .values_list("certificate_id", flat=True)
            .distinct()
        )
        histories = [
            (certificate, alert_log_for(certificate, user=self.request.user))
            for certificate in certificates
            if certificate.pk in with_alerts
        ]
        return {"alert_histories": histories}


def finess_panel(officine: Officine, user) -> dict:
    """The referential's data beside the officine's (3 small queries), with the extract date."""
    state = finess_selectors.referential_state()
    if state.last_refresh is None:
        return {"finess_state": state}
    etab = finess_selectors.etablissement(officine.finess)
    rows = []
    if etab is not None:
        values = finess_rules.referential_values(etab)
        for name in (
            "raison_sociale",
            "address",
            "postal_code",
            "city",
            "department",
            "finess_juridique",
        ):
            mine = getattr(officine, name) or ""
            theirs = values[name] or ""
            rows.append(
                {
                    "label": Officine._meta.get_field(name).verbose_name,
                    "officine": mine,
                    "referential": theirs,
                    "differs": bool(mine and theirs)
                    and finess_compare.normalize(mine) != finess_compare.normalize(theirs),
                }
            )
    return {
        "finess_state": state,
        "finess_etablissement": etab,
        "finess_rows": rows,
        "finess_check": finess_differences([officine.pk], user=user).get(officine.pk),
    }


def may_manage(user, officine: Officine) -> bool:
    """May record habilitations and changes of administrator for this officine."""
    from officines.habilitations import check_may_manage

    try:
        check_may_manage(user, [officine])
    except PermissionDenied:
        return False
    return True


def habilitation_context(officine: Officine, user, *, can_act: bool) -> dict:
    """The officine page's « administrateurs techniques et habilitations » section."""
    from officines.forms import HabilitationForm, MainContactForm
    from officines.models import AdministratorChangeItem, Habilitation

    habilitations = officine_habilitations(officine, user)
    administrators = TechnicalAdministrator.objects.visible_to(user).order_by("full_name", "id")
    attached = [row.administrator_id for row in habilitations if row.state != Habilitation.REVOKED]
    changes = list(
        AdministratorChangeItem.objects.visible_to(user)
        .filter(officine=officine)
        .select_related("change__new_administrator", "old_administrator")
        .order_by("-change__requested_at", "-pk")[:10]
    )
    return {
        "habilitations": habilitations,
        "habilitated": any(row.state == Habilitation.HABILITATED for row in habilitations),
        "administrator_changes": changes,
        "habilitation_form": HabilitationForm(administrators=administrators) if can_act else None,
        "main_contact_form": MainContactForm(
            administrators=administrators.filter(pk__in=attached),
            initial={"administrator": officine.technical_administrator_id},
        )
        if can_act and len(attached) > 1
        else None,
    }


class OfficineFormMixin(ScopedViewMixin):
    model = Officine
    form_class = OfficineForm
    roles = editor_roles("officines", "manage")
    template_name = "officines/officine_form.html"

    def form_valid(self, form):
        try:
            officine = officine_save(
                officine=form.instance, actor=self.request.user, request=self.request
            )
        except ValidationError as exc:
            form.add_error(None if hasattr(exc, "error_dict") else "technical_administrator", exc)
            return self.form_invalid(form)
        finess_check_officine(officine)
        messages.success(self.request, _("Officine saved."))
        for difference in getattr(form, "finess_differences", []):
            messages.warning(
                self.request,
                _(
                    "%(field)s differs from the FINESS referential: “%(mine)s” here, “%(theirs)s” in FINESS."
                )
                % {
                    "field": difference["label"],
                    "mine": difference["officine"],
                    "theirs": difference["referential"],
                },
            )
        if officine.pending_change is not None:
            messages.warning(
                self.request,
                _(
                    "Change of technical administrator recorded (form 503): download its "
                    "worksheet for ANS. The current administrator stays in charge until you "
                    "mark the change « processed by ANS »."
                ),
            )
            return HttpResponseRedirect(officine.pending_change.get_absolute_url())
        return HttpResponseRedirect(officine.get_absolute_url())


class OfficineCreate(OfficineFormMixin, CreateView):
    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = Officine(editor_id=self.scope.editor_id)
        return kwargs

    def post(self, request, *args, **kwargs):
        if "finess_lookup" not in request.POST:
            return super().post(request, *args, **kwargs)
        # "Look up in FINESS": blank fields filled from the referential, nothing saved.
        self.object = None
        lookup = finess_rules.finess_lookup(request.POST.get("finess", ""))
        data = {key: request.POST.get(key, "") for key in OfficineForm.Meta.fields}
        differences = finess_rules.differences(_PostedOfficine(data), lookup)
        if lookup.fills:
            for name, value in finess_rules.referential_values(lookup.etablissement).items():
                if value and not data.get(name):
                    data[name] = value
        form = OfficineForm(initial=data, instance=Officine(editor_id=self.scope.editor_id))
        return self.render_to_response(
            self.get_context_data(form=form, lookup=lookup, lookup_differences=differences)
        )


class _PostedOfficine:
    _meta = Officine._meta

    def __init__(self, data: dict[str, str]) -> None:
        self.__dict__.update(data)

    def __getattr__(self, name: str) -> str:
        return ""


class OfficineUpdate(OfficineFormMixin, UpdateView):
    def form_valid(self, form):
        if "delegation_mode" in form.changed_data and self.request.POST.get("confirm_mode") != "1":
            return self.confirm_mode_change(form)
        return super().form_valid(form)

    def confirm_mode_change(self, form):
        """Changing Cas 1 ⇄ Cas 2 changes who may act: say what, and ask again (audited on
        saving, `officine.delegation_mode`). Nothing is saved by this page."""
        officine = form.instance
        open_requests = (
            CertificateRequest.objects.visible_to(self.request.user)
            .filter(officine_id=officine.pk, status__in=OPEN_REQUEST_STATUSES)
            .count()
        )
        return render(
            self.request,
            "officines/officine_mode_confirm.html",
            {
                "object": officine,
                "form": form,
                "to_pharmacien": officine.delegation_mode == DelegationMode.PHARMACIEN,
                "open_requests": open_requests,
            },
        )


class OfficineDeactivate(ScopedViewMixin, View):
    model = Officine
    roles = editor_roles("officines", "manage")

    def post(self, request, pk: int):
        officine = get_object_or_404(self.get_queryset(), pk=pk)
        officine_deactivate(officine=officine, actor=request.user, request=request)
        messages.success(request, _("Officine deactivated."))
        return HttpResponseRedirect(officine.get_absolute_url())


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


def _with_officine_count(queryset: QuerySet) -> QuerySet:
    from officines.models import Habilitation, OfficineHabilitation

    habilitated = (
        OfficineHabilitation.objects.filter(
            administrator_id=OuterRef("pk"), state=Habilitation.HABILITATED
        )
        .order_by()
        .values("administrator_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(
        officine_count=Count("officines", filter=Q(officines__is_active=True), distinct=True),
        habilitated_count=Coalesce(Subquery(habilitated), 0),
    )


class AdministratorList(ScopedViewMixin, FilterView):
    model = TechnicalAdministrator
    filterset_class = AdministratorFilter
    paginate_by = 50
    template_name = "officines/administrator_list.html"

    def get_queryset(self):
        return _with_officine_count(super().get_queryset()).order_by("full_name", "id")


class AdministratorDetail(ScopedViewMixin, DetailView):
    model = TechnicalAdministrator
    template_name = "officines/administrator_detail.html"
    officines_shown = 200

    def get_queryset(self):
        return _with_officine_count(super().get_queryset())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        from officines.models import OfficineHabilitation

        rows = list(
            OfficineHabilitation.objects.visible_to(self.request.user)
            .filter(administrator=self.object)
            .select_related("officine")
            .order_by("-officine__is_active", "officine__raison_sociale", "officine_id")[
                : self.officines_shown + 1
            ]
        )
        for row in rows:
            row.is_main_contact = row.officine.technical_administrator_id == self.object.pk
        context["habilitations"] = rows[: self.officines_shown]
        context["officines_truncated"] = len(rows) > self.officines_shown
        return context


class AdministratorFormMixin(ScopedViewMixin):
    model = TechnicalAdministrator
    form_class = TechnicalAdministratorForm
    roles = WRITE_ROLES
    template_name = "officines/administrator_form.html"

    def form_valid(self, form):
        administrator_save(
            administrator=form.instance, actor=self.request.user, request=self.request
        )
        messages.success(self.request, _("Technical administrator saved."))
        return HttpResponseRedirect(form.instance.get_absolute_url())


class AdministratorCreate(AdministratorFormMixin, CreateView):
    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.scope.editor_id is None:
            raise PermissionDenied
        kwargs["instance"] = TechnicalAdministrator(editor_id=self.scope.editor_id)
        return kwargs


class AdministratorUpdate(AdministratorFormMixin, UpdateView):
    pass


# --------------------------------------------------------------------------- CSV import


def _imports(user) -> QuerySet:
    """Imports of the user's editor, without the (large) file content."""
    return OfficineImport.objects.visible_to(user).defer("content")


class ImportUpload(ScopedViewMixin, FormView):
    model = OfficineImport
    roles = editor_roles("officines", "manage")
    form_class = OfficineImportForm
    template_name = "officines/import_upload.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["max_size"] = settings.MAX_UPLOAD_SIZE
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["recent"] = list(
            _imports(self.request.user).defer("errors", "preview").select_related("created_by")[:10]
        )
        context["columns"] = list(zip(columns.TEMPLATE_HEADER, _column_notes(), strict=True))
        context["max_mb"] = settings.MAX_UPLOAD_SIZE // (1024 * 1024)
        context["sync_max_rows"] = stored.SYNC_MAX_ROWS
        return context

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        try:
            with transaction.atomic():
                officine_import = stored.officine_import_create(
                    editor_id=self.scope.editor_id,
                    actor=self.request.user,
                    data=upload.read(),
                    filename=upload.name or "",
                )
                if stored.runs_in_worker(officine_import):
                    outbox.enqueue(
                        "officines.tasks.officine_import_validate", import_id=officine_import.pk
                    )
        except reading.CsvFileError as exc:
            form.add_error("file", str(exc))
            return self.form_invalid(form)
        if not stored.runs_in_worker(officine_import):
            stored.officine_import_validate(import_id=officine_import.pk)
        return redirect(officine_import)


def _column_notes() -> list[str]:
    return [
        _("Required. 9 characters with the check digit; the key of the officine."),
        _("Optional."),
        _("Required for a new officine."),
        _("Optional."),
        _("Optional."),
        _("Optional."),
        _("Optional. Where alerts are sent."),
        _("Optional. Copied on every alert."),
        _("“editeur” (delegated, default) or “pharmacien”."),
        _("Optional. Card number of one of your technical administrators."),
    ]


def _error_rows(errors: Iterable[dict]) -> list[dict]:
    return [{**error, "label": columns.column_label(error.get("field", ""))} for error in errors]


class ImportDetail(ScopedViewMixin, DetailView):
    model = OfficineImport
    roles = WRITE_ROLES
    template_name = "officines/import_detail.html"
    context_object_name = "officine_import"

    def get_queryset(self):
        return _imports(self.request.user).select_related("created_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        officine_import = self.object
        preview = officine_import.preview or {}
        context["preview_rows"] = preview.get("rows", [])
        context["ignored_columns"] = preview.get("ignored_columns", [])
        context["finess_warnings"] = preview.get("finess_warnings", 0)
        context["finess_rows"] = [
            row for row in context["preview_rows"] if row.get("warnings") or row.get("differences")
        ]
        context["errors"] = _error_rows(officine_import.errors)
        context["errors_truncated"] = officine_import.error_count > len(officine_import.errors)
        context["confirm_form"] = ImportConfirmForm()
        context["can_confirm"] = officine_import.status == ImportStatus.VALIDATED and (
            officine_import.to_create or officine_import.to_update
        )
        return context


class ImportProgress(ScopedViewMixin, DetailView):
    """The progress fragment polled by htmx; a finished import refreshes the whole page."""

    model = OfficineImport
    roles = WRITE_ROLES
    template_name = "officines/_import_progress.html"
    context_object_name = "officine_import"

    def get_queryset(self):
        return _imports(self.request.user).defer("errors", "preview")

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if not self.object.is_running:
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Refresh"] = "true"
                return response
            return redirect(self.object)
        return self.render_to_response(self.get_context_data(object=self.object))


class ImportConfirm(ScopedViewMixin, View):
    model = OfficineImport
    roles = WRITE_ROLES

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        officine_import = get_object_or_404(_imports(request.user), pk=pk)
        form = ImportConfirmForm(request.POST)
        valid_only = form.is_valid() and form.cleaned_data["valid_only"]
        confirm_finess = form.is_valid() and form.cleaned_data["confirm_finess"]
        try:
            with transaction.atomic():
                claimed = stored.officine_import_confirm(
                    officine_import=officine_import,
                    valid_only=valid_only,
                    confirm_finess=confirm_finess,
                )
                if claimed and stored.runs_in_worker(officine_import):
                    outbox.enqueue(
                        "officines.tasks.officine_import_apply", import_id=officine_import.pk
                    )
        except write.ImportRefused as exc:
            messages.error(request, str(exc))
            return redirect(officine_import)
        if claimed and not stored.runs_in_worker(officine_import):
            done = stored.officine_import_apply(import_id=officine_import.pk)
            if done is not None and done.status == ImportStatus.DONE:
                messages.success(
                    request,
                    ngettext(
                        "Import done: %(created)d officine created, %(updated)d updated.",
                        "Import done: %(created)d officines created, %(updated)d updated.",
                        done.created_count,
                    )
                    % {"created": done.created_count, "updated": done.updated_count},
                )
            elif done is not None and done.failure:
                messages.error(request, done.failure)
        return redirect(officine_import)


class ImportTemplate(ScopedViewMixin, View):
    """An empty CSV with the expected header and one example row."""

    model = OfficineImport

    def get(self, request: HttpRequest) -> HttpResponse:
        return csv_response("modele-import-officines.csv", columns.template_rows())
