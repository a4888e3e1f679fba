"""The certificate page's « Vérifier auprès de l'IGC Santé » button: enqueue, never wait.

A read-ish action (`Action.VIEW` of portal.permissions): whoever may see the certificate
(viewers and its pharmacists included) may ask; the check runs in a worker, bounded by the
HTTP timeout.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.views import View

from certificates.views.certificates import CertificateScopedMixin
from portal import outbox
from portal.audit import audit_record
from portal.permissions import Action


class CertificateRevocationCheck(CertificateScopedMixin, View):
    http_method_names = ["post"]
    object_action = Action.VIEW  # portal.permissions: asking about a certificate reads it

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        certificate = self.get_certificate(pk)
        self.check_object(certificate)
        outbox.enqueue(
            "certificates.tasks.check_certificate_revocation",
            certificate_id=certificate.pk,
            user_id=request.user.pk,
        )
        audit_record(
            action="certificate.revocation_check_requested",
            actor=request.user,
            target=certificate,
            request=request,
        )
        messages.info(
            request,
            _("The check with IGC Santé is under way: reload this page in a few seconds."),
        )
        return HttpResponseRedirect(certificate.get_absolute_url())
