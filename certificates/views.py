"""HTML pages of certificates, requests (wizard), bulk import and renewal campaigns.

Views parse input, call the services of this app and render; the rules live in the
services. Every look-up goes through `visible_to(user)` (a foreign id is a 404), then
write actions ask `portal.permissions.decide` (viewers and pharmacists in "éditeur" mode
get a 403 on every POST).
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from allauth.core.exceptions import ReauthenticationRequired
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.generic import ListView, View
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from certificates import campaigns, exports
from certificates import importing as imports
from certificates import ordering as requests
from certificates.campaign_agents import campaign_agent_rows
from certificates.forms import (
    STEP_FIELDS,
    STEP_TITLES,
    WIZARD_STEPS,
    BulkImportForm,
    CampaignForm,
    CertificateFilterForm,
    CsrUploadForm,
    IssuedCertificateForm,
    Pkcs12Form,
    RequestWizardForm,
    RevokeForm,
)
from certificates.lifecycle import certificate_revoke
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    CampaignStatus,
    Certificate,
    CertificateRequest,
    KeyMode,
    Profile,
    RenewalCampaign,
    RequestStatus,
    Service,
)
from certificates.offers import ans_offer
from certificates.revocation.selectors import revocation_status, with_revocation_unknown
from officines.models import DelegationMode, Officine, PharmacistAccess
from officines.selectors import officine_search, request_ordering_warning
from portal.audit import audit_record
from portal.csv_stream import csv_response
from portal.form_errors import apply_service_errors, service_messages
from portal.models import Editor
from portal.permissions import (
    WRITE_ROLES,
    Action,
    ScopedViewMixin,
    decide,
    editor_roles,
    require,
    session_recently_reauthenticated,
)
from portal.tenancy import user_scope

PAGE_SIZE = 50
CAMPAIGN_CANDIDATES_LIMIT = 200
OFFICINE_SEARCH_LIMIT = 20
POLL_SECONDS = 2
PUBLIC_EXPORT_KINDS = ("pem", "chain", "fullchain", "der")


# --------------------------------------------------------------------------- helpers


def attachment(content: bytes, filename: str, content_type: str) -> HttpResponse:
    """A download that no cache keeps (it may hold a private key)."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response


def actable_officines(user: Any) -> QuerySet[Officine]:
    """Active officines the user may order certificates for (`Action.ORDER` in SQL): Cas 1
    officines of the editor they write for, Cas 2 officines they are a pharmacist of."""
    scope = user_scope(user)
    condition = Q(pk__in=[])
    if scope.can_write and scope.editor_id is not None:
        condition |= Q(editor_id=scope.editor_id) & ~Q(delegation_mode=DelegationMode.PHARMACIEN)
    if scope.is_pharmacist:
        condition |= Q(
            delegation_mode=DelegationMode.PHARMACIEN,
            pk__in=PharmacistAccess.objects.filter(user_id=user.pk, read_only=False).values(
                "officine_id"
            ),
        )
    return Officine.objects.visible_to(user).filter(condition).active()


def require_can_act(user: Any, target: Any, action: Action = Action.ORDER) -> None:
    """403 with the reason (Cas 1 / Cas 2, role) when `user` may not do `action` on `target`."""
    require(user, action, target)


def portal_holds_key(certificate: Certificate) -> bool:
    """The portal made the key (server mode), known without loading the encrypted key."""
    return bool(certificate.request_id and certificate.request.key_mode == KeyMode.SERVER)


def render_partial(request: HttpRequest, full: str, partial: str, context: dict, **kwargs):
    """The fragment for htmx, the whole page otherwise (same context)."""
    template = partial if getattr(request, "htmx", False) else full
    return render(request, template, context, **kwargs)


def redirect_to(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


# --------------------------------------------------------------------------- certificates


class CertificateList(ScopedViewMixin, ListView):
    model = Certificate
    allow_pharmacists = True
    paginate_by = PAGE_SIZE
    template_name = "certificates/certificate_list.html"

    def get_queryset(self) -> QuerySet[Certificate]:
        self.filter_form = CertificateFilterForm(self.request.GET or None)
        queryset = (
            super()
            .get_queryset()
            .with_status()
            .with_installed()
            .select_related("officine")
            .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        )
        queryset = with_revocation_unknown(queryset)  # « statut de révocation inconnu »
        return self.filter_form.filter(queryset).order_by("usable_until", "pk")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filter_form
        context["can_import"] = self.scope.can_write
        return context


class CertificateScopedMixin(ScopedViewMixin):
    model = Certificate
    allow_pharmacists = True

    def get_certificate(self, pk: int) -> Certificate:
        return get_object_or_404(
            self.get_queryset().select_related("officine__technical_administrator", "request"),
            pk=pk,
        )


def certificate_context(user: Any, certificate: Certificate) -> dict[str, Any]:
    """What the detail page shows around a certificate, each list in one query."""
    visible = Certificate.objects.visible_to(user)
    replaced_by = list(
        visible.filter(replaces=certificate)
        .with_status()
        .only(
            *("pk", "common_name", "profile", "serial", "not_after", "usable_until"),
            *("revoked_at", "superseded_at"),
        )
    )
    renewals = list(
        CertificateRequest.objects.visible_to(user)
        .filter(renews=certificate)
        .only("pk", "status", "created_at", "profile", "common_name", "renews_id")
        .order_by("-created_at")[:10]
    )
    open_renewal = next((r for r in renewals if r.status in OPEN_REQUEST_STATUSES), None)
    decision = decide(user, Action.ORDER, certificate.officine)
    can_act = decision.allowed
    is_live = certificate.revoked_at is None and certificate.superseded_at is None
    return {
        "can_act": can_act,
        "act_refusal": "" if can_act else decision.reason,
        "is_live": is_live,
        "installations": list(certificate.installations.all()[:50]),
        "replaced_by": replaced_by,
        "renewals": renewals,
        "open_renewal": open_renewal,
        "has_private_key": portal_holds_key(certificate),
        "revocation": revocation_status(certificate),
    }


class CertificateDownload(CertificateScopedMixin, View):
    """PEM, chain, full chain or DER of a certificate (public material, audited)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate = self.get_certificate(pk)
        kind = request.GET.get("format", "pem")
        if kind not in PUBLIC_EXPORT_KINDS:
            raise Http404
        try:
            export = exports.certificate_export(
                certificate=certificate, kind=kind, actor=request.user, http_request=request
            )
        except ValidationError as exc:
            messages.error(request, " ".join(service_messages(exc)))
            return HttpResponseRedirect(certificate.get_absolute_url())
        return attachment(export.content, export.filename, export.content_type)


class CertificatePkcs12(CertificateScopedMixin, View):
    """Private key + certificate + chain, after a recent re-authentication (< 5 minutes)."""

    template_name = "certificates/certificate_pkcs12.html"

    def _certificate(self, pk: int) -> Certificate:
        certificate = self.get_certificate(pk)
        require_can_act(self.request.user, certificate, Action.EXPORT_KEY)
        return certificate

    def _render(self, certificate: Certificate, form: Pkcs12Form | None, status: int = 200):
        return render(
            self.request,
            self.template_name,
            {"certificate": certificate, "form": form, "has_key": portal_holds_key(certificate)},
            status=status,
        )

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate = self._certificate(pk)
        if not portal_holds_key(certificate):
            return self._render(certificate, None)
        if not session_recently_reauthenticated(request):
            # allauth's middleware sends the user to confirm their password or TOTP
            # and back here (a GET: nothing of the form is kept meanwhile).
            raise ReauthenticationRequired()
        return self._render(certificate, Pkcs12Form())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate = self._certificate(pk)
        if not session_recently_reauthenticated(request):
            # Never let allauth stash this POST (it holds the passphrase) in the session.
            messages.warning(
                request, _("Confirm your identity again before exporting the private key.")
            )
            return HttpResponseRedirect(reverse("certificates:export_pkcs12", args=[pk]))
        form = Pkcs12Form(request.POST)
        if form.is_valid():
            try:
                data = exports.certificate_export_pkcs12(
                    certificate=certificate,
                    passphrase=form.cleaned_data["passphrase"],
                    profile=form.cleaned_data["profile"],
                    actor=request.user,
                    reason="PKCS#12 export (web)",
                    http_request=request,
                )
            except ValidationError as exc:
                field = {
                    "weak_passphrase": "passphrase",
                    "non_ascii_passphrase": "passphrase",
                    "invalid_profile": "profile",
                }.get(exc.code or "")
                for message in service_messages(exc):
                    form.add_error(field, message)
            else:
                return attachment(
                    data,
                    exports.export_filename(certificate, "p12"),
                    exports.EXPORT_KINDS["p12"][1],
                )
        return self._render(certificate, form, status=400)


class CertificateRenew(CertificateScopedMixin, View):
    """A renewal request (new key); a second click, by anyone, lands on the same request."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate = self.get_certificate(pk)
        require_can_act(request.user, certificate.officine)
        started = timezone.now()
        try:
            renewal = requests.request_create_renewal(
                certificate=certificate, actor=request.user, http_request=request
            )
        except ValidationError as exc:
            messages.error(request, " ".join(service_messages(exc)))
            return HttpResponseRedirect(certificate.get_absolute_url())
        if renewal.created_at >= started:  # made by this call, not an open one returned
            messages.success(request, _("Renewal request created: a new key is being prepared."))
        else:
            messages.info(request, _("A renewal of this certificate was already in progress."))
        return HttpResponseRedirect(renewal.get_absolute_url())


class CertificateRevoke(CertificateScopedMixin, View):
    template_name = "certificates/certificate_revoke.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate = self.get_certificate(pk)
        require_can_act(request.user, certificate.officine)
        return render(
            request, self.template_name, {"certificate": certificate, "form": RevokeForm()}
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate = self.get_certificate(pk)
        require_can_act(request.user, certificate.officine)
        form = RevokeForm(request.POST)
        if form.is_valid():
            try:
                certificate_revoke(
                    certificate=certificate,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    http_request=request,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("The revocation is recorded."))
                return HttpResponseRedirect(certificate.get_absolute_url())
        return render(
            request, self.template_name, {"certificate": certificate, "form": form}, status=400
        )


class CertificateImport(ScopedViewMixin, View):
    """Bulk import: many files at once, one result line per certificate (or unreadable file)."""

    model = Certificate
    roles = editor_roles("certificates", "manage")
    template_name = "certificates/certificate_import.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, {"form": BulkImportForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = BulkImportForm(request.POST, request.FILES)
        results: list[imports.ImportResult] = []
        if form.is_valid():
            editor = Editor.objects.get(pk=self.scope.editor_id)
            password = form.cleaned_data["password"]
            for upload in form.cleaned_data["files"]:
                report = imports.certificate_import(
                    editor=editor,
                    data=upload.read(),
                    password=password.encode("utf-8") if password else None,
                    actor=request.user,
                    http_request=request,
                    filename=upload.name,
                )
                results.extend(report.results)
            form = BulkImportForm()  # the passphrase is not sent back
        counts = {
            kind: sum(1 for r in results if r.result == kind)
            for kind in ("imported", "duplicate", "rejected")
        }
        return render(
            request,
            self.template_name,
            {"form": form, "results": results, "counts": counts},
            status=200 if results or not form.errors else 400,
        )


# --------------------------------------------------------------------------- officines


# --------------------------------------------------------------------------- requests


class RequestList(ScopedViewMixin, ListView):
    model = CertificateRequest
    allow_pharmacists = True
    paginate_by = PAGE_SIZE
    template_name = "certificates/request_list.html"

    def get_queryset(self) -> QuerySet[CertificateRequest]:
        queryset = (
            super()
            .get_queryset()
            .select_related("officine")
            .defer("encrypted_private_key", "csr_pem")
        )
        status = self.request.GET.get("status", "")
        if status in RequestStatus.values:
            queryset = queryset.filter(status=status)
        elif status == "open":
            queryset = queryset.filter(status__in=OPEN_REQUEST_STATUSES)
        officine = self.request.GET.get("officine", "")
        if officine.isdigit():
            queryset = queryset.filter(officine_id=int(officine))
        return queryset.order_by("-created_at", "-pk")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["status_choices"] = [("open", _("Open")), *RequestStatus.choices]
        context["status"] = self.request.GET.get("status", "")
        # The wizard's own rule: pharmacists whose officines are all in "éditeur" mode get a 403.
        context["can_create"] = self.scope.can_write or (
            self.scope.is_pharmacist and actable_officines(self.request.user).exists()
        )
        return context


class RequestScopedMixin(ScopedViewMixin):
    model = CertificateRequest
    allow_pharmacists = True

    def get_request(self, pk: int, *, for_update: bool = False) -> CertificateRequest:
        request = get_object_or_404(
            self.get_queryset().select_related(
                "officine__technical_administrator", "renews", "campaign", "editor"
            ),
            pk=pk,
        )
        if for_update:
            require_can_act(self.request.user, request.officine)
        return request


def request_context(user: Any, certificate_request: CertificateRequest) -> dict[str, Any]:
    certificate = (
        Certificate.objects.visible_to(user)
        .filter(request=certificate_request)
        .only("pk", "common_name", "serial", "not_after", "usable_until", "profile")
        .first()
    )
    decision = decide(user, Action.ORDER, certificate_request.officine)
    can_act = decision.allowed
    status = certificate_request.status
    return {
        **progress_context(certificate_request),
        "ans_offer": ans_offer(certificate_request.profile),
        "ordering_warning": request_ordering_warning(certificate_request)
        if status in OPEN_REQUEST_STATUSES
        else None,
        "issued_certificate": certificate,
        "can_act": can_act,
        "act_refusal": "" if can_act else decision.reason,
        "can_upload_csr": can_act
        and status == RequestStatus.AWAITING_CSR
        and certificate_request.key_mode == KeyMode.CSR,
        "expected_subject": requests.expected_subject(
            certificate_request.officine, certificate_request.common_name
        ),
        "can_submit": can_act
        and status
        == (
            RequestStatus.PENDING
            if certificate_request.key_mode == KeyMode.ANS
            else RequestStatus.CSR_READY
        ),
        "can_upload_certificate": can_act
        and status in requests.issuable_statuses(certificate_request.key_mode),
        "can_cancel": can_act and status in OPEN_REQUEST_STATUSES,
    }


def progress_context(certificate_request: CertificateRequest) -> dict[str, Any]:
    """What `_request_progress.html` shows: no query, as it is polled every POLL_SECONDS."""
    return {
        "req": certificate_request,
        "waiting_for_key": (
            certificate_request.status == RequestStatus.PENDING
            and certificate_request.key_mode == KeyMode.SERVER
            and not certificate_request.error
        ),
        "poll_seconds": POLL_SECONDS,
        "steps": request_steps(certificate_request),
    }


def request_steps(certificate_request: CertificateRequest) -> list[dict[str, Any]]:
    """The progress steps shown on the request page, with their state."""
    order = [
        (RequestStatus.PENDING, _("Key and CSR")),
        (RequestStatus.CSR_READY, _("CSR ready")),
        (RequestStatus.SUBMITTED, _("Submitted to ANS")),
        (RequestStatus.ISSUED, _("Certificate issued")),
    ]
    codes = [code for code, _label in order]
    current = certificate_request.status
    if current == RequestStatus.AWAITING_CSR:
        current = RequestStatus.PENDING  # the same step: the key and CSR are being made
    index = codes.index(current) if current in codes else -1
    return [
        {
            "label": label,
            "state": (
                "done"
                if i < index or (current == RequestStatus.ISSUED and i == index)
                else ("current" if i == index else "todo")
            ),
        }
        for i, (_code, label) in enumerate(order)
    ]


class RequestDetail(RequestScopedMixin, View):
    template_name = "certificates/request_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate_request = self.get_request(pk)
        context = request_context(request.user, certificate_request)
        context["csr_form"] = CsrUploadForm()
        context["upload_form"] = IssuedCertificateForm()
        return render(request, self.template_name, context)


class RequestProgress(RequestScopedMixin, View):
    """Polled by htmx while the key is generated; asks for a full reload once it is ready."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        context = progress_context(self.get_request(pk))
        if getattr(request, "htmx", False) and not context["waiting_for_key"]:
            return HttpResponseClientRefresh()
        return render(request, "certificates/_request_progress.html", context)


class RequestCsrDownload(RequestScopedMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        export = exports.request_csr_export(
            request=self.get_request(pk), actor=request.user, http_request=request
        )
        if export is None:
            raise Http404
        return attachment(export.content, export.filename, export.content_type)


class RequestAction(RequestScopedMixin, View):
    """Base of the POST-only actions on a request; errors come back as messages."""

    success_message = ""

    def act(self, certificate_request: CertificateRequest) -> None:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate_request = self.get_request(pk, for_update=True)
        try:
            self.act(certificate_request)
        except ValidationError as exc:
            messages.error(request, " ".join(service_messages(exc)))
        else:
            messages.success(request, self.success_message)
        return HttpResponseRedirect(certificate_request.get_absolute_url())


class RequestSubmit(RequestAction):
    success_message = _("Marked as submitted to ANS. Upload the certificate once it is issued.")

    def act(self, certificate_request: CertificateRequest) -> None:
        requests.request_mark_submitted(
            request=certificate_request, actor=self.request.user, http_request=self.request
        )


class RequestCancel(RequestAction):
    success_message = _("Request cancelled.")

    def act(self, certificate_request: CertificateRequest) -> None:
        requests.request_cancel(
            request=certificate_request, actor=self.request.user, http_request=self.request
        )


class RequestUploadForm(RequestScopedMixin, View):
    """Shared by the CSR upload and the issued-certificate upload: errors stay on the page."""

    template_name = "certificates/request_detail.html"

    def render_page(self, certificate_request, *, csr_form=None, upload_form=None):
        context = request_context(self.request.user, certificate_request)
        context["csr_form"] = csr_form or CsrUploadForm()
        context["upload_form"] = upload_form or IssuedCertificateForm()
        return render(self.request, self.template_name, context, status=400)


class RequestUploadCsr(RequestUploadForm):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate_request = self.get_request(pk, for_update=True)
        form = CsrUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                requests.request_upload_csr(
                    request=certificate_request,
                    csr=form.cleaned_data["csr"].read(),
                    actor=request.user,
                    http_request=request,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc, {"status": None})
            else:
                messages.success(request, _("CSR received: the request is ready for ANS."))
                return HttpResponseRedirect(certificate_request.get_absolute_url())
        return self.render_page(certificate_request, csr_form=form)


class RequestUploadCertificate(RequestUploadForm):
    """The certificate ANS issued for this request: imported and matched by its public key."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate_request = self.get_request(pk, for_update=True)
        form = IssuedCertificateForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["certificate"]
            password = form.cleaned_data.get("password") or ""
            report = imports.certificate_import(
                editor=certificate_request.editor,
                data=upload.read(),
                password=password.encode("utf-8") if password else None,
                actor=request.user,
                http_request=request,
                request=certificate_request,
                filename=upload.name,
            )
            done = report.imported or report.duplicates
            if report.ok and done and done[0].certificate is not None:
                certificate = done[0].certificate
                messages.success(
                    request,
                    _("Certificate matched with this request and imported.")
                    if report.imported
                    else _("This certificate was already imported."),
                )
                return HttpResponseRedirect(certificate.get_absolute_url())
            for result in report.rejected or report.results:
                form.add_error("certificate", result.reason)
        return self.render_page(certificate_request, upload_form=form)


# --------------------------------------------------------------------------- wizard


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
    return list(requests.profiles_for_service(editor=officine.editor, service=service))


def chosen_profiles(officine: Officine, service: str, profile: str | None) -> list[str]:
    """The profile picked among those allowed, else every certificate the service needs."""
    if profile and profile in profiles_for(officine, service):
        return [profile]
    return [str(p) for p in requests.PROFILES_FOR_SERVICE[Service(service)]]


def naming_errors(officine: Officine, service: str, profiles: list[str], common_name: str):
    """The naming rules of every profile the wizard will request, merged per field."""
    errors: dict[str, dict[str, None]] = {}
    for profile in profiles:
        try:
            requests.validate_request_naming(
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
                info = requests.validate_csr(
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
                    requests.request_create(
                        profile=Profile.SERV_SSL, services=[service], **arguments
                    )
                ]
            else:
                created = requests.request_create_for_service(service=service, **arguments)
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
                    "count": len(requests.PROFILES_FOR_SERVICE[Service(code)]),
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


# --------------------------------------------------------------------------- campaigns


class CampaignList(ScopedViewMixin, ListView):
    model = RenewalCampaign
    paginate_by = PAGE_SIZE
    template_name = "certificates/campaign_list.html"

    def get_queryset(self) -> QuerySet[RenewalCampaign]:
        return super().get_queryset().select_related("created_by").order_by("-created_at", "-pk")


class CampaignCreate(ScopedViewMixin, View):
    """Choose certificates (ticked in a filtered list, or all expiring within N days), launch."""

    model = RenewalCampaign
    roles = editor_roles("campaigns", "manage")
    template_name = "certificates/campaign_form.html"

    def candidates(self) -> tuple[CertificateFilterForm, list[Certificate], bool]:
        filter_form = CertificateFilterForm(self.request.GET or None)
        queryset = (
            self.editor_certificates()
            .exclude(officine__delegation_mode=DelegationMode.PHARMACIEN)
            .live()
            .filter(officine__is_active=True)
            .with_status()
            .select_related("officine")
            .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        )
        rows = list(
            filter_form.filter(queryset).order_by("usable_until", "pk")[
                : CAMPAIGN_CANDIDATES_LIMIT + 1
            ]
        )
        return filter_form, rows[:CAMPAIGN_CANDIDATES_LIMIT], len(rows) > CAMPAIGN_CANDIDATES_LIMIT

    def editor_certificates(self) -> QuerySet[Certificate]:
        """The editor's own certificates (never another editor's, seen as a pharmacist)."""
        return Certificate.objects.visible_to(self.request.user).of_editor(self.scope.editor_id)

    def renewed_by_officine(self, filter_form: CertificateFilterForm) -> list[Certificate]:
        """Cas 2 certificates the same filter finds: « à renouveler par l'officine »."""
        queryset = (
            self.editor_certificates()
            .filter(officine__delegation_mode=DelegationMode.PHARMACIEN, officine__is_active=True)
            .live()
            .with_status()
            .select_related("officine")
            .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        )
        if filter_form.is_bound and not filter_form.is_valid():
            return []
        return list(filter_form.filter(queryset).order_by("not_after", "pk")[:50])

    def render_form(self, form: CampaignForm, selected: set[int], status: int = 200):
        filter_form, rows, truncated = self.candidates()
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "filter_form": filter_form,
                "candidates": rows,
                "by_officine": self.renewed_by_officine(filter_form),
                "truncated": truncated,
                "limit": CAMPAIGN_CANDIDATES_LIMIT,
                "selected": selected,
            },
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        form = CampaignForm(
            initial={
                "requester_email": request.user.email,
                "name": _("Renewals %(date)s") % {"date": timezone.localdate().isoformat()},
            }
        )
        return self.render_form(form, set())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CampaignForm(request.POST)
        raw_ids = request.POST.getlist("certificate_ids")
        selected = {int(v) for v in raw_ids if v.isdigit()}
        if form.is_valid():
            data = form.cleaned_data
            selection = data["mode"] == "selection"
            try:
                campaign = campaigns.campaign_create(
                    editor=Editor.objects.get(pk=self.scope.editor_id),
                    actor=request.user,
                    name=data["name"],
                    requester_email=data["requester_email"],
                    contact_email=data.get("contact_email") or "",
                    certificate_ids=sorted(selected) if selection else None,
                    within_days=None if selection else data["within_days"],
                    key_mode=data.get("key_mode") or "",
                    http_request=request,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc, {"certificate_ids": None})
            else:
                messages.success(request, _("Campaign launched."))
                return HttpResponseRedirect(campaign.get_absolute_url())
        return self.render_form(form, selected, status=400)


class CampaignScopedMixin(ScopedViewMixin):
    model = RenewalCampaign

    def get_campaign(self, pk: int) -> RenewalCampaign:
        return get_object_or_404(self.get_queryset().select_related("created_by"), pk=pk)


def campaign_context(user: Any, campaign: RenewalCampaign) -> dict[str, Any]:
    running = campaign.status in (CampaignStatus.PENDING, CampaignStatus.RUNNING)
    return {
        "campaign": campaign,
        "running": running,
        # Pending or running with no progress for CAMPAIGN_STALL_TIMEOUT: its task was lost;
        # the page says so and offers "Resume" (beat's revive_campaigns will also).
        "stalled_since": campaigns.campaign_stalled_since(campaign),
        "poll_seconds": POLL_SECONDS,
        "can_write": user_scope(user).can_write,
    }


class CampaignDetail(CampaignScopedMixin, View):
    template_name = "certificates/campaign_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self.get_campaign(pk)
        context = campaign_context(request.user, campaign)
        context["requests"] = campaign_agent_rows(request.user, campaign)
        return render(request, self.template_name, context)


class CampaignProgress(CampaignScopedMixin, View):
    """Polled by htmx while the campaign runs; the final fragment stops the polling."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self.get_campaign(pk)
        context = campaign_context(request.user, campaign)
        if getattr(request, "htmx", False) and not context["running"]:
            return HttpResponseClientRefresh()
        return render(request, "certificates/_campaign_progress.html", context)


class CampaignZip(CampaignScopedMixin, View):
    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        campaign = self.get_campaign(pk)
        response = StreamingHttpResponse(
            campaigns.campaign_export(campaign=campaign, actor=request.user, http_request=request),
            content_type="application/zip",
        )
        response["Content-Disposition"] = content_disposition_header(
            True, campaigns.campaign_zip_filename(campaign)
        )
        response["Cache-Control"] = "no-store"
        return response


class CampaignWorksheet(CampaignScopedMixin, View):
    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        campaign = self.get_campaign(pk)
        audit_record(
            action="campaign.download_worksheet",
            actor=request.user,
            target=campaign,
            request=request,
        )
        rows = chain(
            [campaigns.worksheet_header()],
            (entry.row for entry in campaigns.campaign_entries(campaign)),
        )
        filename = campaigns.campaign_zip_filename(campaign)[: -len(".zip")] + ".csv"
        return csv_response(filename, rows)


class CampaignResume(CampaignScopedMixin, View):
    roles = editor_roles("campaigns", "manage")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self.get_campaign(pk)
        try:
            campaigns.campaign_resume(campaign=campaign, actor=request.user, http_request=request)
        except ValidationError as exc:
            messages.error(request, " ".join(service_messages(exc)))
        else:
            messages.success(request, _("The campaign is running again."))
        return HttpResponseRedirect(campaign.get_absolute_url())
