"""HTML pages for officines, technical administrators and CSV import/export of officines."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import CreateView, DetailView, FormView, UpdateView, View
from django_filters.views import FilterView

from finess import compare as finess_compare
from finess import selectors as finess_selectors
from officines import finess_rules
from officines.csv_import import columns, reading, stored, write
from officines.filters import AdministratorFilter
from officines.finess_check import finess_check_officine, finess_differences
from officines.forms import (
    HabilitationForm,
    ImportConfirmForm,
    MainContactForm,
    OfficineForm,
    OfficineImportForm,
    TechnicalAdministratorForm,
)
from officines.habilitations import check_may_manage
from officines.models import (
    AdministratorChangeItem,
    DelegationMode,
    Habilitation,
    ImportStatus,
    Officine,
    OfficineHabilitation,
    OfficineImport,
    TechnicalAdministrator,
)
from officines.selectors import officine_habilitations, open_requests_count
from officines.services import administrator_save, officine_deactivate, officine_save
from portal import outbox
from portal.csv_stream import csv_response
from portal.form_errors import apply_service_errors
from portal.permissions import WRITE_ROLES, ScopedViewMixin, editor_roles


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
    try:
        check_may_manage(user, [officine])
    except PermissionDenied:
        return False
    return True


def habilitation_context(officine: Officine, user, *, can_act: bool) -> dict:
    """The officine page's « administrateurs techniques et habilitations » section."""

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
            apply_service_errors(form, exc, default_field="technical_administrator")
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
        open_requests = open_requests_count(self.request.user, officine.pk)
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


def _with_officine_count(queryset: QuerySet) -> QuerySet:
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
