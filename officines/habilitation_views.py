"""HTML pages for habilitations per officine and changes of administrator (form 503)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import DetailView, ListView, View

from officines import administrator_changes as changes
from officines.forms import (
    BulkHabilitationForm,
    ChangeProcessForm,
    HabilitationForm,
    MainContactForm,
)
from officines.habilitations import (
    check_may_manage,
    habilitations_set,
    main_contact_set,
    resolve_finess_list,
)
from officines.models import AdministratorChange, Officine, TechnicalAdministrator
from portal.audit import audit_record
from portal.csv_stream import csv_response
from portal.form_errors import apply_service_errors
from portal.permissions import WRITE_ROLES, ScopedViewMixin

UNKNOWN_SHOWN = 50


def _administrators(user) -> QuerySet:
    return TechnicalAdministrator.objects.visible_to(user).order_by("full_name", "id")


def _refusal(request: HttpRequest, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.error(request, str(exc) or _("You may not do this for this officine."))


class OfficineHabilitationSet(ScopedViewMixin, View):
    """One habilitation step for one administrator at one officine (officine page form)."""

    model = Officine
    allow_pharmacists = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        officine = get_object_or_404(self.get_queryset(), pk=pk)
        check_may_manage(request.user, [officine])  # 403 with the reason
        form = HabilitationForm(request.POST, administrators=_administrators(request.user))
        if not form.is_valid():
            for field, errors in form.errors.items():
                for error in errors:
                    messages.error(request, f"{form.fields[field].label}: {error}")
            return HttpResponseRedirect(officine.get_absolute_url())
        try:
            habilitations_set(
                officines=[officine],
                administrator=form.cleaned_data["administrator"],
                state=form.cleaned_data["state"],
                on=form.cleaned_data["on"],
                actor=request.user,
                request=request,
            )
        except (ValidationError, PermissionDenied) as exc:
            _refusal(request, exc)
        else:
            messages.success(request, _("Habilitation recorded."))
        return HttpResponseRedirect(officine.get_absolute_url())


class OfficineMainContact(ScopedViewMixin, View):
    model = Officine
    allow_pharmacists = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        officine = get_object_or_404(self.get_queryset(), pk=pk)
        check_may_manage(request.user, [officine])
        form = MainContactForm(request.POST, administrators=_administrators(request.user))
        if form.is_valid():
            try:
                main_contact_set(
                    officine=officine,
                    administrator=form.cleaned_data["administrator"],
                    actor=request.user,
                    request=request,
                )
            except (ValidationError, PermissionDenied) as exc:
                _refusal(request, exc)
            else:
                messages.success(request, _("Main contact for alerts changed."))
        else:
            messages.error(request, _("Choose one of the officine's administrators."))
        return HttpResponseRedirect(officine.get_absolute_url())


class HabilitationBulk(ScopedViewMixin, View):
    """Record one ANS step for an administrator at every officine of a FINESS list."""

    model = Officine
    roles = WRITE_ROLES
    template_name = "officines/habilitation_bulk.html"

    def _render(self, request, form, **extra) -> HttpResponse:
        return render(request, self.template_name, {"form": form, **extra})

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {"administrator": request.GET.get("administrator")}
        form = BulkHabilitationForm(initial=initial, administrators=_administrators(request.user))
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = BulkHabilitationForm(
            request.POST, request.FILES, administrators=_administrators(request.user)
        )
        if not form.is_valid():
            return self._render(request, form)
        try:
            found = resolve_finess_list(self.get_queryset(), form.cleaned_data["text"])
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self._render(request, form)
        if found.unknown or found.invalid:
            form.add_error(
                "finess_list",
                _(
                    "Nothing was recorded: %(count)d line(s) are not FINESS of your officines. "
                    "Correct or remove them."
                )
                % {"count": len(found.unknown) + len(found.invalid)},
            )
            return self._render(
                request,
                form,
                unknown=(found.invalid + found.unknown)[:UNKNOWN_SHOWN],
                unknown_count=len(found.unknown) + len(found.invalid),
            )
        administrator = form.cleaned_data["administrator"]
        try:
            result = habilitations_set(
                officines=found.officines,
                administrator=administrator,
                state=form.cleaned_data["state"],
                on=form.cleaned_data["on"],
                actor=request.user,
                request=request,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self._render(request, form)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
            return self._render(request, form)
        messages.success(
            request,
            _(
                "%(name)s: %(state)s recorded for %(count)d officine(s) "
                "(%(created)d added, %(updated)d updated, %(unchanged)d unchanged)."
            )
            % {
                "name": administrator.full_name,
                "state": dict(form.fields["state"].choices)[form.cleaned_data["state"]],
                "count": len(found.officines),
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            },
        )
        return redirect(administrator)


# --------------------------------------------------------------------------- form 503


class ChangeList(ScopedViewMixin, ListView):
    model = AdministratorChange
    paginate_by = 50
    template_name = "officines/change_list.html"

    def get_queryset(self):
        queryset = (
            super()
            .get_queryset()
            .select_related("new_administrator")
            .annotate(officine_count=Count("items"))
            .order_by("-requested_at", "-id")
        )
        status = self.request.GET.get("status")
        if status in dict(AdministratorChange._meta.get_field("status").choices):
            queryset = queryset.filter(status=status)
        return queryset


class ChangeDetail(ScopedViewMixin, DetailView):
    model = AdministratorChange
    template_name = "officines/change_detail.html"
    context_object_name = "change"
    items_shown = 200

    def get_queryset(self):
        return super().get_queryset().select_related("new_administrator")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        items = list(
            self.object.items.select_related("officine", "old_administrator").order_by(
                "officine__finess"
            )[: self.items_shown + 1]
        )
        context["items"] = items[: self.items_shown]
        context["items_truncated"] = len(items) > self.items_shown
        context["item_count"] = self.object.items.count()
        context["can_write"] = self.scope.can_write
        context["process_form"] = ChangeProcessForm(initial={"processed_on": timezone.localdate()})
        return context


class ChangeWorksheet(ScopedViewMixin, View):
    model = AdministratorChange

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(self.get_queryset().select_related("new_administrator"), pk=pk)
        audit_record(
            action="administrator_change.worksheet",
            actor=request.user,
            target=change,
            request=request,
        )
        return csv_response(changes.worksheet_filename(change), changes.worksheet_rows(change))


class ChangeProcess(ScopedViewMixin, View):
    model = AdministratorChange
    roles = WRITE_ROLES

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(self.get_queryset(), pk=pk)
        form = ChangeProcessForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Give the date ANS processed the form."))
            return redirect(change)
        try:
            changes.administrator_change_process(
                change=change,
                processed_on=form.cleaned_data["processed_on"],
                actor=request.user,
                request=request,
            )
        except (ValidationError, PermissionDenied) as exc:
            _refusal(request, exc)
        else:
            messages.success(
                request,
                _(
                    "Change processed by ANS: the new administrator is habilitated for its officines."
                ),
            )
        return redirect(change)


class ChangeCancel(ScopedViewMixin, View):
    model = AdministratorChange
    roles = WRITE_ROLES

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            changes.administrator_change_cancel(change=change, actor=request.user, request=request)
        except (ValidationError, PermissionDenied) as exc:
            _refusal(request, exc)
        else:
            messages.success(
                request, _("Change cancelled: the officines keep their administrator.")
            )
        return redirect(change)
