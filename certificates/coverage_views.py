"""Settings page: which services the editor's officines are followed on (ROR, ROC on demand)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import View

from certificates.coverage import followed_services
from certificates.models import TRACKABLE_SERVICES
from portal.audit import audit_record
from portal.models import Editor
from portal.permissions import ADMIN_ROLES, ScopedViewMixin
from portal.tenancy import forget_scope


class CoverageServicesForm(forms.Form):
    services = forms.MultipleChoiceField(
        label=gettext_lazy("Services your officines need"),
        choices=[(str(s), s.label) for s in TRACKABLE_SERVICES],
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "The coverage matrix, the dashboard and the officine filters follow these "
            "services. The four SEGUR services by default; add ROR or ROC if your LGO uses them."
        ),
    )


class SettingsCoverage(ScopedViewMixin, View):
    model = Editor
    roles = ADMIN_ROLES
    template_name = "portal/settings_coverage.html"

    def _editor(self) -> Editor:
        return Editor.objects.get(pk=self.scope.editor_id)

    def get(self, request: HttpRequest) -> HttpResponse:
        editor = self._editor()
        form = CoverageServicesForm(
            initial={"services": followed_services(editor.coverage_services)}
        )
        return render(request, self.template_name, {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CoverageServicesForm(request.POST)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form})
        editor = self._editor()
        before = editor.coverage_services
        editor.coverage_services = ",".join(followed_services(form.cleaned_data["services"]))
        editor.save(update_fields=["coverage_services"])
        audit_record(
            action="editor.coverage_services",
            actor=request.user,
            target=editor,
            request=request,
            details={"before": before, "after": editor.coverage_services},
        )
        forget_scope(request.user)
        messages.success(request, _("Services followed in the coverage saved."))
        return HttpResponseRedirect(reverse("settings_coverage"))
