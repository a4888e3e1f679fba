"""What the portal learnt from IGC Santé about revocation: CRLs kept, OCSP answers, runs.

Imported at the end of certificates/models.py so Django registers these models in the
certificates app. CRL state is per issuing CA (not tenant data: the CA's list is public);
per-certificate checks reach their editor through the certificate.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenancy import TenantQuerySet


class RevocationSource(models.TextChoices):
    PORTAL = "portal", _("Recorded in the portal")
    CRL = "crl", _("IGC Santé (CRL)")
    OCSP = "ocsp", _("IGC Santé (OCSP)")


ANS_SOURCES = (RevocationSource.CRL, RevocationSource.OCSP)


class CrlState(models.Model):
    """One issuing CA's CRL: where it is fetched, the last one applied, the last failure."""

    issuer_dn = models.CharField(_("issuer"), max_length=512, unique=True)
    url = models.CharField(_("CRL address"), max_length=500, blank=True)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    # The CRL applied last (DER), re-applied on "304 Not Modified" to newly imported certificates.
    der = models.BinaryField(null=True, blank=True, editable=False)
    crl_number = models.CharField(_("CRL number"), max_length=50, blank=True)
    this_update = models.DateTimeField(_("CRL issued on"), null=True, blank=True)
    next_update = models.DateTimeField(_("next CRL due"), null=True, blank=True)
    entries = models.PositiveIntegerField(_("entries"), default=0)
    delta_url = models.CharField(max_length=500, blank=True)
    delta_number = models.CharField(max_length=50, blank=True)
    delta_this_update = models.DateTimeField(null=True, blank=True)
    delta_next_update = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_error_code = models.CharField(max_length=40, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("CRL state")
        verbose_name_plural = _("CRL states")

    def __str__(self) -> str:
        return self.issuer_dn


class OcspStatus(models.TextChoices):
    GOOD = "good", _("Good")
    REVOKED = "revoked", _("Revoked")
    UNKNOWN = "unknown", _("Unknown to the responder")


class RevocationCheck(models.Model):
    """A certificate's last OCSP answer (cached until its nextUpdate) and CRL oddities."""

    tenant_editor_path = "certificate__editor"
    tenant_officine_path = "certificate__officine"

    certificate = models.OneToOneField(
        "certificates.Certificate",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="revocation_check",
    )
    ocsp_status = models.CharField(max_length=8, choices=OcspStatus.choices, blank=True)
    ocsp_checked_at = models.DateTimeField(null=True, blank=True)
    ocsp_this_update = models.DateTimeField(null=True, blank=True)
    ocsp_next_update = models.DateTimeField(null=True, blank=True)
    ocsp_responder = models.CharField(max_length=512, blank=True)
    ocsp_url = models.CharField(max_length=500, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # The CA listed removeFromCRL for a certificate the portal keeps revoked (shown, not undone).
    removed_from_crl_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("revocation check")
        verbose_name_plural = _("revocation checks")

    def __str__(self) -> str:
        return f"{self.certificate_id}: {self.ocsp_status or '-'}"


class RevocationRun(models.Model):
    """One pass over the CRLs (beat, command, or one certificate's check): monitoring reads
    the last successful one (`selectors.last_successful_run`)."""

    class Trigger(models.TextChoices):
        BEAT = "beat", _("Scheduled")
        COMMAND = "command", _("Command")
        CERTIFICATE = "certificate", _("One certificate")

    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    crls_applied = models.PositiveIntegerField(default=0)
    crls_failed = models.PositiveIntegerField(default=0)
    certificates_revoked = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["succeeded", "-finished_at"], name="revocation_run_ok")]

    def __str__(self) -> str:
        return f"{self.trigger} {self.started_at:%Y-%m-%d %H:%M}"
