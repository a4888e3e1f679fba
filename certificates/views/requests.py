"""Certificate request pages: the list, a request, its progress, actions and uploads."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.generic import ListView, View
from django_htmx.http import HttpResponseClientRefresh

from certificates import exports, importing, ordering
from certificates.filters import CertificateRequestFilter
from certificates.forms import CsrUploadForm, IssuedCertificateForm
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    Certificate,
    CertificateRequest,
    KeyMode,
    RequestStatus,
)
from certificates.offers import ans_offer
from certificates.views.common import (
    PAGE_SIZE,
    POLL_SECONDS,
    actable_officines,
    attachment,
    require_can_act,
)
from officines.selectors import request_ordering_warning
from portal.form_errors import apply_service_errors, service_messages
from portal.permissions import Action, ScopedViewMixin, decide


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
        self.filterset = CertificateRequestFilter(self.request.GET or None, queryset=queryset)
        return self.filterset.qs.order_by("-created_at", "-pk")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filterset.form
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
        "expected_subject": ordering.expected_subject(
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
        and status in ordering.issuable_statuses(certificate_request.key_mode),
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
        ordering.request_mark_submitted(
            request=certificate_request, actor=self.request.user, http_request=self.request
        )


class RequestCancel(RequestAction):
    success_message = _("Request cancelled.")

    def act(self, certificate_request: CertificateRequest) -> None:
        ordering.request_cancel(
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
                ordering.request_upload_csr(
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
            report = importing.certificate_import(
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
