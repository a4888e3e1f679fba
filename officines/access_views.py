"""Pharmacists' accesses: their RPPS set or cleared and their removal (officine page), and the
CSV import of pharmacists."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import View

from officines.csv_import.reading import CsvFileError
from officines.identifiers import IdentifierError, validate_rpps
from officines.models import PharmacistAccess
from officines.pharmacist_import import (
    TEMPLATE_HEADER,
    pharmacists_import_plan,
    pharmacists_import_write,
)
from officines.validators import validate_rpps_field
from portal.audit import audit_record
from portal.models import Editor
from portal.permissions import WRITE_ROLES, ScopedViewMixin, editor_roles
from portal.tenancy import forget_scope


class RppsForm(forms.Form):
    rpps = forms.CharField(
        label=gettext_lazy("RPPS number"),
        required=False,
        max_length=20,
        validators=[validate_rpps_field],
    )

    def clean_rpps(self) -> str:
        value = self.cleaned_data["rpps"].strip()
        if not value:
            return ""
        try:
            return validate_rpps(value)
        except IdentifierError:  # pragma: no cover - the field validator said it first
            raise forms.ValidationError(_("Invalid RPPS number.")) from None


def staff_accesses(user, editor_id: int):
    """Pharmacist accesses of this editor's officines, as its staff sees them."""
    return PharmacistAccess.objects.visible_to(user).filter(officine__editor_id=editor_id)


class _AccessView(ScopedViewMixin, View):
    model = PharmacistAccess
    roles = WRITE_ROLES

    def access(self, pk: int) -> PharmacistAccess:
        queryset = staff_accesses(self.request.user, self.scope.editor_id).select_related(
            "officine", "user"
        )
        return get_object_or_404(queryset, pk=pk)


class AccessRpps(_AccessView):
    """Set (or clear, when empty) the RPPS that lets this pharmacist log in with PSC."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        access = self.access(pk)
        form = RppsForm(request.POST)
        if not form.is_valid():
            for error in form.errors.get("rpps", []):
                messages.error(request, f"{_('RPPS number')}: {error}")
            return HttpResponseRedirect(access.officine.get_absolute_url())
        rpps = form.cleaned_data["rpps"]
        with transaction.atomic():
            taken = (
                rpps
                and PharmacistAccess.objects.filter(rpps=rpps).exclude(user=access.user).exists()
            )
            if taken:
                messages.error(
                    request,
                    _("This RPPS number is already recorded for another pharmacist."),
                )
                return HttpResponseRedirect(access.officine.get_absolute_url())
            before = access.rpps
            if rpps != before:
                access.rpps = rpps
                access.save(update_fields=["rpps"])
                audit_record(
                    action="pharmacist_access.rpps_set",
                    actor=request.user,
                    editor=access.officine.editor_id,
                    target=access,
                    request=request,
                    details={"before": before, "after": rpps, "user": access.user.email},
                )
        messages.success(request, _("RPPS number saved."))
        return HttpResponseRedirect(access.officine.get_absolute_url())


class AccessRemove(_AccessView):
    """The pharmacist no longer sees this officine."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        access = self.access(pk)
        officine, user = access.officine, access.user
        with transaction.atomic():
            audit_record(
                action="pharmacist_access.removed",
                actor=request.user,
                editor=officine.editor_id,
                target=officine,
                request=request,
                details={"user": user.email, "rpps": access.rpps},
            )
            access.delete()
        forget_scope(user)
        messages.success(request, _("Access removed."))
        return HttpResponseRedirect(officine.get_absolute_url())


class PharmacistImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file"))


class PharmacistImport(ScopedViewMixin, View):
    """Invite pharmacists (or record their RPPS) from a CSV file: e-mail, FINESS, RPPS."""

    model = PharmacistAccess
    roles = editor_roles("team", "manage")  # it sends invitations
    template_name = "officines/pharmacist_import.html"
    max_bytes = 2 * 1024 * 1024

    def _render(self, form, status=200, **extra):
        context = {"form": form, "header": "; ".join(TEMPLATE_HEADER), **extra}
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(PharmacistImportForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PharmacistImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._render(form, status=400)
        upload = form.cleaned_data["file"]
        if upload.size > self.max_bytes:
            form.add_error("file", _("The file is too large (2 MB at most)."))
            return self._render(form, status=400)
        try:
            plan = pharmacists_import_plan(editor_id=self.scope.editor_id, data=upload.read())
        except CsvFileError as exc:
            form.add_error("file", str(exc))
            return self._render(form, status=400)
        if plan.errors:
            return self._render(form, status=400, errors=plan.errors)
        pharmacists_import_write(
            editor=Editor.objects.get(pk=self.scope.editor_id),
            plan=plan,
            actor=request.user,
            language=request.LANGUAGE_CODE,
        )
        messages.success(
            request,
            _("%(invitations)d invitation(s) sent, %(rpps)d RPPS number(s) recorded.")
            % {"invitations": len(plan.invitations), "rpps": len(plan.rpps_updates)},
        )
        return HttpResponseRedirect(reverse("officines:pharmacist_import"))
