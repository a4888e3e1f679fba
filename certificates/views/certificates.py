"""Certificate pages: the list, downloads, PKCS#12 export, renewal, revocation, bulk import.

Views parse input, call the services of this app and render; the rules live in the services.
"""

from __future__ import annotations

from typing import Any

from allauth.core.exceptions import ReauthenticationRequired
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import ListView, View

from certificates import exports, importing, ordering
from certificates.filters import CertificateFilter
from certificates.forms import BulkImportForm, Pkcs12Form, RevokeForm
from certificates.lifecycle import certificate_revoke
from certificates.models import OPEN_REQUEST_STATUSES, Certificate, CertificateRequest, KeyMode
from certificates.revocation.selectors import revocation_status, with_revocation_unknown
from certificates.views.common import PAGE_SIZE, attachment, require_can_act
from portal.form_errors import apply_service_errors, service_messages
from portal.models import Editor
from portal.permissions import (
    Action,
    ScopedViewMixin,
    decide,
    editor_roles,
    session_recently_reauthenticated,
)

PUBLIC_EXPORT_KINDS = ("pem", "chain", "fullchain", "der")


def portal_holds_key(certificate: Certificate) -> bool:
    """The portal made the key (server mode), known without loading the encrypted key."""
    return bool(certificate.request_id and certificate.request.key_mode == KeyMode.SERVER)


class CertificateList(ScopedViewMixin, ListView):
    model = Certificate
    allow_pharmacists = True
    paginate_by = PAGE_SIZE
    template_name = "certificates/certificate_list.html"

    def get_queryset(self) -> QuerySet[Certificate]:
        queryset = (
            super()
            .get_queryset()
            .with_status()
            .with_installed()
            .select_related("officine")
            .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        )
        queryset = with_revocation_unknown(queryset)  # « statut de révocation inconnu »
        self.filterset = CertificateFilter.for_page(self.request.GET, queryset)
        return self.filterset.qs.order_by("usable_until", "pk")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filterset.form
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
            renewal = ordering.request_create_renewal(
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
        results: list[importing.ImportResult] = []
        if form.is_valid():
            editor = Editor.objects.get(pk=self.scope.editor_id)
            password = form.cleaned_data["password"]
            for upload in form.cleaned_data["files"]:
                report = importing.certificate_import(
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
