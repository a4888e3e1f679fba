"""Officine page: editor staff set or clear the RPPS of a pharmacist's access, or remove it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import View

from officines.identifiers import IdentifierError, validate_rpps
from officines.models import PharmacistAccess
from officines.validators import validate_rpps_field
from portal.audit import audit_record
from portal.permissions import WRITE_ROLES, ScopedViewMixin
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
