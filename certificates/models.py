"""IGC Santé organisation certificates, the requests that produce them, renewal campaigns.

A certificate's status is not stored: it follows from its dates and from two
events (revocation, replacement by an imported renewal), so it can never be stale.
`CertificateQuerySet.with_status()` computes it in SQL for lists and filters.

A certificate ends at `usable_until`: the earlier of notAfter and the end of its Private Key
Usage Period (real ORG SIGN certificates stop signing a month before notAfter). Status,
alerts, coverage and every countdown count from it, never from `not_after` alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509 as cx509
from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from certificates import x509

# The stored coverage and the revocation learnt from IGC Santé (CRL, OCSP) have their own
# modules; their models live in this app.
from certificates.coverage_store import OfficineCoverage  # noqa: F401 (registered with this app)
from certificates.revocation.models import (  # noqa: F401 (registered with this app)
    CrlState,
    RevocationCheck,
    RevocationRun,
    RevocationSource,
)
from officines.models import Environment
from portal.tenancy import TenantQuerySet

EXPIRING_DAYS = 30


class Profile(models.TextChoices):
    ORG_AUTH_CLI = "ORG_AUTH_CLI", "ORG AUTH_CLI"
    ORG_SIGN = "ORG_SIGN", "ORG SIGN"
    ORG_CONF = "ORG_CONF", "ORG CONF"
    SERV_SSL = "SERV_SSL", "SERV SSL"


class Service(models.TextChoices):
    DMP = "DMP", "DMP"
    INSI = "INSI", "INSi"
    PSC = "PSC", "Pro Santé Connect"
    MSSANTE = "MSSANTE", "MSSanté"
    ROR = "ROR", "ROR"
    ROC = "ROC", "ROC"
    OTHER = "OTHER", _("Other")


# The services shown in coverage matrices (which certificates each service needs).
COVERAGE_SERVICES = (Service.DMP, Service.INSI, Service.PSC, Service.MSSANTE)
# What an editor may follow in its coverage (`Editor.coverage_services`): the four SEGUR
# services by default, ROR and ROC for LGOs that use them.
TRACKABLE_SERVICES = (*COVERAGE_SERVICES, Service.ROR, Service.ROC)


class ChainStatus(models.TextChoices):
    TRUSTED_PRODUCTION = "trusted_production", _("Trusted (production)")
    TRUSTED_TEST = "trusted_test", _("Trusted (test)")
    UNTRUSTED = "untrusted", _("Untrusted")
    INCOMPLETE = "incomplete", _("Incomplete chain")


class AnsAction(models.TextChoices):
    REVOKE = "revoke", _("To revoke")
    REISSUE = "reissue", _("To reissue")


class Status(models.TextChoices):
    VALID = "valid", _("Valid")
    EXPIRING = "expiring", _("Expiring")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")
    SUPERSEDED = "superseded", _("Superseded")


class RevocationReason(models.TextChoices):
    KEY_COMPROMISE = "key_compromise", _("Key loss or compromise")
    CESSATION = "cessation", _("Cessation of activity")
    DATA_CHANGE = "data_change", _("Change of data in the certificate")
    OTHER = "other", _("Other")


class ServicesField(models.CharField):
    """A set of `Service` codes stored as ",DMP,PSC," so `contains` filters work on any database."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 100)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", list)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection) -> list[str]:
        return [code for code in (value or "").split(",") if code]

    def to_python(self, value) -> list[str]:
        if isinstance(value, list):
            return value
        return [code for code in (value or "").split(",") if code]

    def get_prep_value(self, value) -> str:
        if isinstance(value, str):
            return value
        codes = sorted(set(value or []))
        return f",{','.join(codes)}," if codes else ""

    def validate(self, value, model_instance) -> None:
        unknown = set(value or []) - set(Service.values)
        if unknown:
            from django.core.exceptions import ValidationError

            raise ValidationError(_("Unknown service: %(s)s"), params={"s": ", ".join(unknown)})

    def value_to_string(self, obj) -> str:
        return self.get_prep_value(self.value_from_object(obj))


LIVE_STATUSES = (Status.VALID, Status.EXPIRING, Status.EXPIRED)


def expiry_condition(status: str, now: datetime) -> Q:
    """For a live certificate, its status as a condition on `usable_until` alone (counts over
    live rows: an index-only scan of `cert_live_editor_expiry`)."""
    soon = now + timedelta(days=EXPIRING_DAYS)
    conditions = {
        Status.EXPIRED: Q(usable_until__lte=now),
        Status.EXPIRING: Q(usable_until__gt=now, usable_until__lte=soon),
        Status.VALID: Q(usable_until__gt=soon),
    }
    return conditions[Status(status)]


def status_condition(status: str, now: datetime) -> Q:
    """The derived status as a condition on dates and events (filters, conditional counts)."""
    status = Status(status)
    if status == Status.REVOKED:
        return Q(revoked_at__isnull=False)
    if status == Status.SUPERSEDED:
        return Q(revoked_at__isnull=True, superseded_at__isnull=False)
    return Q(revoked_at__isnull=True, superseded_at__isnull=True) & expiry_condition(status, now)


class CertificateQuerySet(TenantQuerySet):
    def with_status(self, now: datetime | None = None) -> CertificateQuerySet:
        """Annotate `current_status` in SQL, the same rule as `Certificate.status`."""
        now = now or timezone.now()
        return self.annotate(
            current_status=Case(
                When(revoked_at__isnull=False, then=Value(Status.REVOKED)),
                When(superseded_at__isnull=False, then=Value(Status.SUPERSEDED)),
                When(usable_until__lte=now, then=Value(Status.EXPIRED)),
                When(
                    usable_until__lte=now + timedelta(days=EXPIRING_DAYS),
                    then=Value(Status.EXPIRING),
                ),
                default=Value(Status.VALID),
                output_field=models.CharField(),
            )
        )

    def in_status(self, status: str, now: datetime | None = None) -> CertificateQuerySet:
        """Filter on the derived status with plain, index-friendly date conditions."""
        return self.filter(status_condition(status, now or timezone.now()))

    def live(self) -> CertificateQuerySet:
        """Neither revoked nor superseded: the certificates that count for coverage and alerts."""
        return self.filter(revoked_at__isnull=True, superseded_at__isnull=True)

    def with_installed(self) -> CertificateQuerySet:
        """Annotate `is_installed`: an LGO reported installing it (one EXISTS per row, in the
        same query), so "renewed but not installed" is one filter."""
        return self.annotate(
            is_installed=models.Exists(
                Installation.objects.filter(certificate=models.OuterRef("pk"))
            )
        )

    def installed(self, value: bool = True) -> CertificateQuerySet:
        exists = models.Exists(Installation.objects.filter(certificate=models.OuterRef("pk")))
        return self.filter(exists if value else ~exists)

    def serving(self, service: str) -> CertificateQuerySet:
        return self.filter(services__contains=f",{service},")

    def expiring_within(self, days: int, now: datetime | None = None) -> CertificateQuerySet:
        now = now or timezone.now()
        return self.live().filter(usable_until__lte=now + timedelta(days=days))


class Certificate(models.Model):
    """An issued organisation certificate of an officine (imported from ANS or from a server)."""

    tenant_editor_path = "editor"
    tenant_officine_path = "officine"

    editor = models.ForeignKey("portal.Editor", on_delete=models.CASCADE, related_name="+")
    officine = models.ForeignKey(
        "officines.Officine", on_delete=models.CASCADE, related_name="certificates"
    )
    profile = models.CharField(_("profile"), max_length=16, choices=Profile.choices)
    common_name = models.CharField(_("common name"), max_length=64)
    services = ServicesField(_("services"))
    serial = models.CharField(_("serial number"), max_length=64)
    subject_dn = models.CharField(_("subject"), max_length=512)
    issuer_dn = models.CharField(_("issuer"), max_length=512)
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"))
    # min(notAfter, Private Key Usage Period end): when the certificate really ends.
    usable_until = models.DateTimeField(_("usable until"), db_index=True)
    # Unique per editor (Meta): two vendors may hold one officine's certificate (LGO change).
    fingerprint_sha256 = models.CharField(_("SHA-256 fingerprint"), max_length=64)
    public_key_sha256 = models.CharField(_("public key hash"), max_length=64, db_index=True)
    environment = models.CharField(
        _("environment"), max_length=16, choices=Environment.choices, default=Environment.PRODUCTION
    )
    chain_status = models.CharField(_("chain"), max_length=24, choices=ChainStatus.choices)
    pem = models.TextField(_("certificate (PEM)"))
    chain_pem = models.TextField(_("chain (PEM)"), blank=True)
    request = models.OneToOneField(
        "CertificateRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="certificate",
        verbose_name=_("request"),
    )
    replaces = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replaced_by",
        verbose_name=_("replaces"),
    )
    superseded_at = models.DateTimeField(_("superseded on"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked on"), null=True, blank=True)
    revocation_reason = models.CharField(
        _("revocation reason"), max_length=24, choices=RevocationReason.choices, blank=True
    )
    # Who said so: recorded in the portal, or learnt from IGC Santé (certificates.revocation).
    revocation_source = models.CharField(
        _("revocation source"),
        max_length=8,
        choices=RevocationSource.choices,
        blank=True,
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("imported on"), auto_now_add=True)
    # What ANS must do because the officine changed (certificates.ans_actions): « à révoquer »
    # after a cessation of activity, « à réémettre » when its raison sociale or département
    # (the O or ST of the subject) changed. Counts while the certificate is live.
    ans_action = models.CharField(
        _("action at ANS"), max_length=8, choices=AnsAction.choices, blank=True
    )
    ans_action_since = models.DateTimeField(_("action at ANS since"), null=True, blank=True)

    objects = CertificateQuerySet.as_manager()

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["usable_until", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["editor", "fingerprint_sha256"], name="cert_fingerprint_per_editor"
            ),
        ]
        indexes = [
            models.Index(fields=["editor", "usable_until"], name="cert_editor_expiry"),
            models.Index(fields=["officine", "profile"], name="cert_officine_profile"),
            # Live certificates of an editor by expiry, with what dashboards and coverage
            # read: index-only scans instead of the wide rows (PEMs) of the heap (bench/).
            models.Index(
                fields=[
                    *("editor", "usable_until", "officine", "profile", "common_name", "services"),
                    "id",  # COUNT(id) too
                    "ans_action",  # the dashboard counts « à révoquer / à réémettre » with them
                ],
                condition=Q(revoked_at__isnull=True, superseded_at__isnull=True),
                name="cert_live_editor_expiry",
            ),
            # « Révoqués par l'ANS depuis 30 jours » on the dashboard: a handful of rows.
            models.Index(
                fields=["editor", "revoked_at"],
                condition=Q(revocation_source__in=["crl", "ocsp"]),
                name="cert_revoked_by_ans",
            ),
            # Revoked certificates per editor for /metrics (certificates/stats.py): an
            # index-only count of a few rows instead of a scan of the whole table.
            models.Index(
                fields=["editor"],
                condition=Q(revoked_at__isnull=False),
                name="cert_revoked_editor",
            ),
            models.Index(
                fields=["editor", "ans_action", "officine"],
                condition=Q(revoked_at__isnull=True, superseded_at__isnull=True)
                & ~Q(ans_action=""),
                name="cert_live_ans_action",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.common_name} — {self.get_profile_display()} ({self.officine_id})"

    def save(self, *args, **kwargs) -> None:
        """Rows made without `usable_until` (tests, fixtures) get it from their PEM."""
        if self.usable_until is None and self.not_after is not None:
            self.usable_until = pem_usable_until(self.pem, self.not_after)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("certificates:detail", args=[self.pk])

    @property
    def status(self) -> str:
        annotated = getattr(self, "current_status", None)
        if annotated:
            return annotated
        now = timezone.now()
        if self.revoked_at:
            return Status.REVOKED
        if self.superseded_at:
            return Status.SUPERSEDED
        if self.usable_until <= now:
            return Status.EXPIRED
        if self.usable_until <= now + timedelta(days=EXPIRING_DAYS):
            return Status.EXPIRING
        return Status.VALID

    def get_status_display(self) -> str:
        return str(Status(self.status).label)

    @property
    def days_left(self) -> int:
        return (self.usable_until - timezone.now()).days

    @property
    def ends_before_not_after(self) -> bool:
        """Its key may no longer be used before notAfter (Private Key Usage Period)."""
        return self.usable_until < self.not_after

    @property
    def has_private_key(self) -> bool:
        return bool(self.request_id and self.request and self.request.encrypted_private_key)


def pem_usable_until(pem: str, not_after: datetime) -> datetime:
    """`usable_until` of a stored certificate (its PEM), `not_after` if it cannot be read."""
    try:
        cert = cx509.load_pem_x509_certificate(pem.encode("ascii"))
        return x509.usable_until(not_after, x509.key_usage_end(cert))
    except (ValueError, UnicodeEncodeError):
        return not_after


class Installation(models.Model):
    """Where the LGO reports having installed a certificate."""

    tenant_editor_path = "certificate__editor"
    tenant_officine_path = "certificate__officine"

    certificate = models.ForeignKey(
        Certificate, on_delete=models.CASCADE, related_name="installations"
    )
    host = models.CharField(_("host"), max_length=255)
    installed_at = models.DateTimeField(_("installed on"))
    reported_by = models.CharField(_("reported by"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("installation")
        verbose_name_plural = _("installations")
        ordering = ["-installed_at"]
        constraints = [
            models.UniqueConstraint(fields=["certificate", "host"], name="unique_installation_host")
        ]

    def __str__(self) -> str:
        return f"{self.host} ({self.installed_at:%Y-%m-%d})"


class KeyMode(models.TextChoices):
    """Where the key is made. The ANS guide: the CSR is created on the server where the
    certificate will be installed (CSR, the default), or online on the ANS platform (ANS)."""

    CSR = "csr", _("CSR made where the certificate will be installed (key stays there)")
    SERVER = "server", _("Key generated and kept by the portal")
    ANS = "ans", _("Key generated online on the ANS platform")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    AWAITING_CSR = "awaiting_csr", _("Awaiting CSR")
    CSR_READY = "csr_ready", _("CSR ready")
    SUBMITTED = "submitted", _("Submitted to ANS")
    ISSUED = "issued", _("Issued")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_REQUEST_STATUSES = (
    RequestStatus.PENDING,
    RequestStatus.AWAITING_CSR,
    RequestStatus.CSR_READY,
    RequestStatus.SUBMITTED,
)


class CertificateRequest(models.Model):
    """A certificate being ordered: its key pair (or uploaded CSR) and the ANS form fields."""

    tenant_editor_path = "editor"
    tenant_officine_path = "officine"

    editor = models.ForeignKey("portal.Editor", on_delete=models.CASCADE, related_name="+")
    officine = models.ForeignKey(
        "officines.Officine", on_delete=models.CASCADE, related_name="certificate_requests"
    )
    profile = models.CharField(_("profile"), max_length=16, choices=Profile.choices)
    services = ServicesField(_("services"))
    common_name = models.CharField(_("service applicatif (CN)"), max_length=64)
    key_mode = models.CharField(
        _("key mode"), max_length=8, choices=KeyMode.choices, default=KeyMode.CSR
    )
    csr_pem = models.TextField(_("CSR (PEM)"), blank=True)
    # AES-GCM envelope of the PKCS#8 private key (server mode); see certificates.keystore.
    encrypted_private_key = models.BinaryField(null=True, blank=True, editable=False)
    key_encryption_key_id = models.CharField(max_length=16, blank=True, editable=False)
    public_key_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    requester_email = models.EmailField(_("e-mail de l'acteur"))
    contact_email = models.EmailField(_("e-mail d'une personne à informer"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    error = models.CharField(_("error"), max_length=255, blank=True)
    renews = models.ForeignKey(
        Certificate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="renewal_requests",
        verbose_name=_("renews"),
    )
    campaign = models.ForeignKey(
        "RenewalCampaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created on"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(_("submitted on"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued on"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("certificate request")
        verbose_name_plural = _("certificate requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            # Two operators renewing the same certificate end up with one open request.
            models.UniqueConstraint(
                fields=["renews"],
                condition=Q(status__in=list(OPEN_REQUEST_STATUSES)),
                name="one_open_renewal_per_certificate",
            )
        ]

    def __str__(self) -> str:
        return f"{self.common_name} — {self.get_profile_display()} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("certificates:request_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES


# A campaign's key mode: blank keeps each certificate's; server or csr forces one for all.
CAMPAIGN_KEY_MODES = [
    ("", _("Each renewal keeps its certificate's key mode")),
    (KeyMode.SERVER.value, KeyMode.SERVER.label),
    (KeyMode.CSR.value, KeyMode.CSR.label),
]


class CampaignStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RenewalCampaign(models.Model):
    """Many renewals prepared at once: requests, keys and CSRs, then one ZIP for ANS."""

    tenant_editor_path = "editor"

    editor = models.ForeignKey("portal.Editor", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    within_days = models.PositiveIntegerField(_("expiring within (days)"), null=True, blank=True)
    # The selection, fixed at creation: the worker resumes from it after a crash.
    certificates = models.ManyToManyField(
        Certificate,
        blank=True,
        related_name="renewal_campaigns",
        verbose_name=_("certificates"),
    )
    requester_email = models.EmailField(_("e-mail de l'acteur"))
    contact_email = models.EmailField(_("e-mail d'une personne à informer"), blank=True)
    # Blank: each renewal keeps the key mode of the certificate it renews (a key the portal
    # never held is renewed awaiting the LGO's CSR); "server": the portal makes every key.
    key_mode = models.CharField(
        _("key mode"),
        max_length=8,
        blank=True,
        choices=CAMPAIGN_KEY_MODES,
    )
    status = models.CharField(
        _("status"), max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.PENDING
    )
    total = models.PositiveIntegerField(_("certificates"), default=0)
    completed = models.PositiveIntegerField(_("completed"), default=0)
    error = models.CharField(_("error"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created on"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished on"), null=True, blank=True)
    # Heartbeat of the worker: set when a run starts and with each certificate prepared
    # (empty until the first run: `created_at` stands in). A PENDING/RUNNING campaign whose
    # heartbeat is older than CAMPAIGN_STALL_TIMEOUT lost its task (campaigns_revive).
    progressed_at = models.DateTimeField(_("last progress"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("renewal campaign")
        verbose_name_plural = _("renewal campaigns")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("certificates:campaign_detail", args=[self.pk])

    @property
    def percent(self) -> int:
        return round(100 * self.completed / self.total) if self.total else 0
