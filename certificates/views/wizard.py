"""The request wizard: officine → service → name, key and e-mails → review → requests."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.generic import View
from django_htmx.http import HttpResponseClientRedirect

from certificates import ordering
from certificates.forms import STEP_FIELDS, STEP_TITLES, WIZARD_STEPS, RequestWizardForm
from certificates.models import CertificateRequest, KeyMode, Profile, Service
from certificates.views.common import actable_officines
from officines.models import Officine
from officines.selectors import officine_search
from portal.form_errors import apply_service_errors
from portal.permissions import WRITE_ROLES, ScopedViewMixin
from portal.tenancy import user_scope

OFFICINE_SEARCH_LIMIT = 20


def render_partial(request: HttpRequest, full: str, partial: str, context: dict, **kwargs):
    """The fragment for htmx, the whole page otherwise (same context)."""
    template = partial if getattr(request, "htmx", False) else full
    return render(request, template, context, **kwargs)


def redirect_to(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


class WizardMixin(ScopedViewMixin):
    model = CertificateRequest
    roles = WRITE_ROLES
    allow_pharmacists = True

    def officines(self) -> QuerySet[Officine]:
        return actable_officines(self.request.user).select_related(
            "editor", "technical_administrator"
        )

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Read-only people (viewers, pharmacists in "éditeur" mode) get a 403, GET or POST.
        user = request.user
        if (
            user.is_authenticated
            and self.has_role(user_scope(user))
            and not actable_officines(user).exists()
        ):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


def search_officines(queryset: QuerySet[Officine], query: str) -> QuerySet[Officine]:
    """FINESS (exact or prefix), raison sociale or city: the officine list's own search."""
    found = officine_search(queryset, query or "")
    return found.order_by("raison_sociale", "pk")


class WizardOfficines(WizardMixin, View):
    """htmx: the officines matching what the user types, as radio buttons."""

    def get(self, request: HttpRequest) -> HttpResponse:
        query = request.GET.get("q", "")
        results = list(search_officines(self.officines(), query)[: OFFICINE_SEARCH_LIMIT + 1])
        selected = request.GET.get("officine", "")
        return render(
            request,
            "certificates/_officine_results.html",
            {
                "results": results[:OFFICINE_SEARCH_LIMIT],
                "more": len(results) > OFFICINE_SEARCH_LIMIT,
                "query": query,
                "selected": selected,
            },
        )


def profiles_for(officine: Officine, service: str) -> list[str]:
    if service not in Service.values:
        return []
    return list(ordering.profiles_for_service(editor=officine.editor, service=service))


def chosen_profiles(officine: Officine, service: str, profile: str | None) -> list[str]:
    """The profile picked among those allowed, else every certificate the service needs."""
    if profile and profile in profiles_for(officine, service):
        return [profile]
    return [str(p) for p in ordering.PROFILES_FOR_SERVICE[Service(service)]]


def naming_errors(officine: Officine, service: str, profiles: list[str], common_name: str):
    """The naming rules of every profile the wizard will request, merged per field."""
    errors: dict[str, dict[str, None]] = {}
    for profile in profiles:
        try:
            ordering.validate_request_naming(
                editor=officine.editor,
                officine=officine,
                profile=profile,
                services=[service],
                common_name=common_name,
            )
        except ValidationError as exc:
            for field, field_errors in exc.message_dict.items():
                for message in field_errors:
                    errors.setdefault(field, {}).setdefault(message, None)
    return {field: list(found) for field, found in errors.items()}


class WizardCheckCommonName(WizardMixin, View):
    """htmx: judge the CN as it is typed, with the service's own explanation."""

    def get(self, request: HttpRequest) -> HttpResponse:
        officine_id = request.GET.get("officine", "")
        service = request.GET.get("service", "")
        common_name = request.GET.get("common_name", "")
        officine = (
            self.officines().filter(pk=int(officine_id)).first() if officine_id.isdigit() else None
        )
        context: dict[str, Any] = {"messages_list": [], "checked": False}
        if officine is not None and service in Service.values and common_name:
            profiles = chosen_profiles(officine, service, request.GET.get("profile"))
            errors = naming_errors(officine, service, profiles, common_name)
            context["messages_list"] = [m for field in errors.values() for m in field]
            context["checked"] = True
        return render(request, "certificates/_cn_feedback.html", context)


def _wizard_initial(data: Any) -> dict[str, Any]:
    """Raw values of the posted fields (to re-render a step without judging it)."""
    names = {name for fields in STEP_FIELDS.values() for name in fields} - {"csr"}
    return {name: data.get(name) for name in names if data.get(name) not in (None, "")}


def _field_step(field: str | None) -> str:
    if field == "officine":
        return "officine"
    if field in ("service", "services"):
        return "service"
    return "details"


class RequestWizard(WizardMixin, View):
    """Officine → service → name, key and e-mails → review, then the request page."""

    template_name = "certificates/request_wizard.html"
    partial_name = "certificates/_wizard.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        officines = self.officines()
        preselected = request.GET.get("officine", "")
        if preselected.isdigit() and officines.filter(pk=int(preselected)).exists():
            form = self.form(step="service", initial={"officine": int(preselected)})
            return self.render_step(form)
        return self.render_step(self.form(step="officine"), query=request.GET.get("q", ""))

    def form(self, *, step: str, data=None, files=None, initial=None) -> RequestWizardForm:
        officine = self._officine_from(data or initial or {})
        service = (data or initial or {}).get("service", "")
        choices = []
        if officine is not None and service:
            profiles = profiles_for(officine, service)
            if service == Service.MSSANTE and len(profiles) > 1:
                choices = [(p, Profile(p).label) for p in profiles]
        form = RequestWizardForm(
            data,
            files,
            officines=self.officines(),
            step=step,
            initial=initial,
            profile_choices=choices,
        )
        if service == Service.INSI:
            form.fields["common_name"].widget.attrs["list"] = "insi-names"
        return form

    def _officine_from(self, values: Any) -> Officine | None:
        raw = values.get("officine")
        if isinstance(raw, Officine):
            return raw
        if raw is None or not str(raw).isdigit():
            return None
        cache = getattr(self, "_officine_cache", {})
        if raw not in cache:
            cache[raw] = self.officines().filter(pk=int(raw)).first()
            self._officine_cache = cache
        return cache[raw]

    def post(self, request: HttpRequest) -> HttpResponse:
        step = request.POST.get("step", "officine")
        step = step if step in WIZARD_STEPS else "officine"
        action = request.POST.get("action", "next")
        if action == "back":
            previous = WIZARD_STEPS[max(WIZARD_STEPS.index(step) - 1, 0)]
            return self.render_step(self.form(step=previous, initial=_wizard_initial(request.POST)))
        if action == "search" or (
            step == "officine" and not request.POST.get("officine") and request.POST.get("q")
        ):
            return self.render_step(
                self.form(step="officine", initial=_wizard_initial(request.POST)),
                query=request.POST.get("q", ""),
            )
        form = self.form(step=step, data=request.POST, files=request.FILES)
        if not form.is_valid():
            return self.render_step(form, query=request.POST.get("q", ""), status=400)
        cleaned = form.cleaned_data
        if step == "details" and not self.check_details(form):
            return self.render_step(form, status=400)
        if step == "review" and action == "create":
            return self.create(form)
        next_step = WIZARD_STEPS[min(WIZARD_STEPS.index(step) + 1, len(WIZARD_STEPS) - 1)]
        initial = _wizard_initial(request.POST)
        initial["officine"] = cleaned["officine"].pk
        if step == "details":
            initial["csr_pem"] = cleaned.get("csr_pem", "")
        if next_step == "details":
            officine = cleaned["officine"]
            administrator = officine.technical_administrator
            initial.setdefault(
                "requester_email", administrator.email if administrator else request.user.email
            )
            if officine.cc_email:
                initial.setdefault("contact_email", officine.cc_email)
            initial.setdefault("key_mode", KeyMode.CSR)
        return self.render_step(self.form(step=next_step, initial=initial))

    def check_details(self, form: RequestWizardForm) -> bool:
        """Early feedback from the services' own checks (naming, CSR) before the review."""
        cleaned = form.cleaned_data
        officine, service = cleaned["officine"], cleaned["service"]
        profiles = chosen_profiles(officine, service, cleaned.get("profile"))
        for field, errors in naming_errors(
            officine, service, profiles, cleaned["common_name"]
        ).items():
            target = field if field in ("common_name", "profile") else None
            for message in errors:
                form.add_error(target, message)
        csr = form.csr_bytes() if cleaned.get("key_mode") == KeyMode.CSR else None
        if csr and not form.errors:
            try:
                info = ordering.validate_csr(
                    csr=csr, officine=officine, common_name=cleaned["common_name"]
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                form.cleaned_data["csr_pem"] = info.pem
        return not form.errors

    def create(self, form: RequestWizardForm) -> HttpResponse:
        cleaned = form.cleaned_data
        officine, service = cleaned["officine"], cleaned["service"]
        arguments = {
            "officine": officine,
            "common_name": cleaned["common_name"],
            "key_mode": cleaned["key_mode"],
            "requester_email": cleaned["requester_email"],
            "contact_email": cleaned.get("contact_email") or "",
            "csr": form.csr_bytes() if cleaned["key_mode"] == KeyMode.CSR else None,
            "actor": self.request.user,
            "http_request": self.request,
        }
        try:
            if cleaned.get("profile") == Profile.SERV_SSL:
                created = [
                    ordering.request_create(
                        profile=Profile.SERV_SSL, services=[service], **arguments
                    )
                ]
            else:
                created = ordering.request_create_for_service(service=service, **arguments)
        except ValidationError as exc:
            return self.render_failure(form, exc)
        if len(created) == 1:
            messages.success(self.request, _("Request created."))
            return redirect_to(self.request, created[0].get_absolute_url())
        messages.success(
            self.request,
            _("%(count)d requests created (one per certificate the service needs).")
            % {"count": len(created)},
        )
        url = reverse("certificates:request_list") + f"?officine={officine.pk}&status=open"
        return redirect_to(self.request, url)

    def render_failure(self, form: RequestWizardForm, exc: ValidationError) -> HttpResponse:
        """Send the user back to the step whose field the service refused, with its message."""
        fields = list(getattr(exc, "error_dict", {None: None}).keys())
        steps = [_field_step(f) for f in fields]
        step = min(steps, key=WIZARD_STEPS.index) if steps else "details"
        again = self.form(step=step, data=self.request.POST, files=self.request.FILES)
        again.is_valid()
        apply_service_errors(again, exc, {"services": "service", "renews": None, "status": None})
        return self.render_step(again, status=400)

    def render_step(self, form: RequestWizardForm, *, query: str = "", status: int = 200):
        values = form.data if form.is_bound else form.initial
        officine = self._officine_from(values)
        service = values.get("service", "") if values else ""
        context: dict[str, Any] = {
            "form": form,
            "step": form.step,
            "steps": [
                {
                    "code": code,
                    "title": STEP_TITLES[code],
                    "state": (
                        "done"
                        if code in form.steps_done
                        else ("current" if code == form.step else "todo")
                    ),
                    "number": index + 1,
                }
                for index, code in enumerate(WIZARD_STEPS)
            ],
            "officine": officine,
            "service": service,
            "service_label": Service(service).label if service in Service.values else "",
            "is_insi": service == Service.INSI,
            "insi_names": ("INSI-AUTO", "INSI-MANU"),
        }
        if form.step == "officine":
            results = list(search_officines(self.officines(), query)[: OFFICINE_SEARCH_LIMIT + 1])
            context.update(
                results=results[:OFFICINE_SEARCH_LIMIT],
                more=len(results) > OFFICINE_SEARCH_LIMIT,
                query=query,
                selected=str(values.get("officine") or "") if values else "",
            )
        if form.step == "service" and officine is not None:
            context["services"] = [
                {
                    "code": code,
                    "label": label,
                    "profiles": [Profile(p).label for p in profiles_for(officine, code)],
                    "count": len(ordering.PROFILES_FOR_SERVICE[Service(code)]),
                }
                for code, label in Service.choices
            ]
        if form.step in ("details", "review") and officine is not None and service:
            profile = values.get("profile") if values else None
            context["profiles"] = [
                Profile(p).label for p in chosen_profiles(officine, service, profile)
            ]
        if form.step == "review":
            context["key_mode_label"] = KeyMode(values.get("key_mode") or KeyMode.CSR).label
            context["has_csr"] = bool(values.get("csr_pem"))
        if getattr(self.request, "htmx", False):
            status = 200  # htmx swaps 2xx answers only; the errors are in the fragment
        return render_partial(
            self.request, self.template_name, self.partial_name, context, status=status
        )
