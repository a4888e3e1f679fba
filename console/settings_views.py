"""The settings hub and the settings pages owned by the console: API keys for the LGO.

Alert thresholds, digest opt-ins and webhook endpoints have their pages in the
notifications app; `settings_alerts` and `settings_webhooks` are stable names that lead
there, so the settings hub links to one set of names whatever app serves the page.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import RedirectView, TemplateView, View

from officines import identifiers
from officines.models import Officine
from portal.api.keys import api_key_create, api_key_revoke
from portal.models import ApiKey, ApiScope, AuditEvent, Editor
from portal.permissions import (
    ScopedViewMixin,
    editor_roles,
    reauthentication_url,
    session_recently_reauthenticated,
)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What uses the key, e.g. “LGO production server”."),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Permissions"),
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiScope.READ],
        help_text=gettext_lazy(
            "Exporting private keys needs you to have confirmed your identity in the last "
            "5 minutes."
        ),
    )
    finess = forms.CharField(
        label=gettext_lazy("Limit to one officine (FINESS)"),
        required=False,
        max_length=20,
        help_text=gettext_lazy("Leave empty for a key that reaches every officine."),
    )
    expires_on = forms.DateField(
        label=gettext_lazy("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Leave empty for a key without expiry (revoke it when unused)."),
    )

    def __init__(self, *args, officines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.officines = officines

    def clean_finess(self) -> Officine | None:
        finess = identifiers.normalize_finess(self.cleaned_data.get("finess") or "")
        if not finess:
            return None
        officine = self.officines.filter(finess=finess).first()
        if officine is None:
            raise ValidationError(_("No officine of yours has this FINESS."), code="not_found")
        return officine

    def expires_at(self) -> datetime | None:
        """End of the chosen day, in the portal's time zone."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


class ApiKeys(ScopedViewMixin, View):
    """List, create (the key is shown once, in this response only) and revoke API keys."""

    model = ApiKey
    roles = editor_roles("api_keys", "manage")
    template_name = "portal/settings_api_keys.html"

    def _render(self, form: ApiKeyForm, created: tuple[ApiKey, str] | None = None, status=200):
        keys = (
            self.get_queryset()
            .select_related("officine", "created_by")
            .order_by("revoked_at", "-created_at", "-pk")[:200]
        )
        context: dict[str, Any] = {
            "form": form,
            "keys": keys,
            "now": timezone.now(),
            "reauth_url": getattr(self, "reauth_url", ""),
        }
        if created is not None:
            context["created_key"], context["raw_key"] = created
        response = render(self.request, self.template_name, context, status=status)
        response["Cache-Control"] = "no-store"
        return response

    def _form(self, data=None) -> ApiKeyForm:
        return ApiKeyForm(data, officines=Officine.objects.visible_to(self.request.user))

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(self._form())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request.POST)
        if form.is_valid():
            scopes = form.cleaned_data["scopes"]
            if ApiScope.KEYS_EXPORT in scopes and not session_recently_reauthenticated(request):
                self.reauth_url = reauthentication_url(request, reverse("settings_api_keys"))
                form.add_error(
                    "scopes",
                    _(
                        "A key that exports private keys needs a recent confirmation of your "
                        "identity: confirm it, then create the key again."
                    ),
                )
            else:
                try:
                    created = api_key_create(
                        editor=Editor.objects.get(pk=self.scope.editor_id),
                        name=form.cleaned_data["name"],
                        scopes=scopes,
                        officine=form.cleaned_data["finess"],
                        expires_at=form.expires_at(),
                        actor=request.user,
                        request=request,
                    )
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        target = {"officine": "finess", "expires_at": "expires_on"}.get(
                            field, field
                        )
                        form.add_error(target if target in form.fields else None, errors)
                else:
                    return self._render(self._form(), created=created)
        return self._render(form, status=400)


class ApiKeyRevoke(ScopedViewMixin, View):
    model = ApiKey
    roles = editor_roles("api_keys", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        api_key = get_object_or_404(self.get_queryset(), pk=pk)
        api_key_revoke(api_key=api_key, actor=request.user, request=request)
        messages.success(request, _("Key %(prefix)s… revoked.") % {"prefix": api_key.prefix})
        return HttpResponseRedirect(reverse("settings_api_keys"))


class SettingsAlerts(ScopedViewMixin, RedirectView):
    """Alert thresholds and digest opt-ins live on the notifications settings page."""

    model = ApiKey
    permanent = False

    def get_redirect_url(self, *args, **kwargs) -> str:
        return reverse("notifications:settings") + "#policy"


class SettingsWebhooks(ScopedViewMixin, RedirectView):
    """Webhook endpoints (creation, delivery log, re-enable) live with the alert settings."""

    model = ApiKey
    roles = editor_roles("webhooks", "view")
    permanent = False

    def get_redirect_url(self, *args, **kwargs) -> str:
        return reverse("notifications:settings") + "#webhooks"


# The settings pages linked from the hub: (title, description, URL name).
SETTINGS_ENTRIES = (
    (
        gettext_lazy("Team"),
        gettext_lazy("Invite colleagues and pharmacists, change roles, remove access."),
        "team",
    ),
    (
        gettext_lazy("Audit log"),
        gettext_lazy("Who did what and when: logins, changes, key use, exports."),
        "audit_log",
    ),
    (
        gettext_lazy("API keys"),
        gettext_lazy("Keys your LGO uses to call the portal API."),
        "settings_api_keys",
    ),
    (
        gettext_lazy("Webhooks"),
        gettext_lazy("Addresses the portal calls when a certificate needs attention."),
        "settings_webhooks",
    ),
    (
        gettext_lazy("Pro Santé Connect"),
        gettext_lazy(
            "Pharmacists log in with their CPS card or e-CPS; officines their PSC activities name."
        ),
        "settings_psc",
    ),
    (
        gettext_lazy("Services followed"),
        gettext_lazy("Which services your officines need: the SEGUR four, ROR, ROC."),
        "settings_coverage",
    ),
    (
        gettext_lazy("Alert thresholds"),
        gettext_lazy("When expiry alerts are sent, and to whom."),
        "settings_alerts",
    ),
)


def settings_links() -> list[dict[str, str]]:
    return [
        {"title": str(title), "description": str(description), "url": reverse(name)}
        for title, description, name in SETTINGS_ENTRIES
    ]


class SettingsHub(ScopedViewMixin, TemplateView):
    model = AuditEvent  # the permission rule of settings pages
    roles = editor_roles("settings", "view")
    template_name = "portal/settings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["links"] = settings_links()
        return context
