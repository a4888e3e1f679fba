"""API representations of certificates, requests and campaigns.

A certificate's JSON is `certificates.representation.certificate_dict`, the one shape shared
with commands and webhooks; the serializer fields below only describe it for the schema.
Writes are validated by the services (`certificates.ordering`, `lifecycle`, `exports`...):
these serializers check types and shapes, nothing of the domain.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from certificates.campaigns import MAX_WITHIN_DAYS
from certificates.exports import PKCS12_PROFILES
from certificates.models import (
    CAMPAIGN_KEY_MODES,
    CampaignStatus,
    Certificate,
    CertificateRequest,
    ChainStatus,
    Installation,
    KeyMode,
    Profile,
    RenewalCampaign,
    RevocationReason,
    Service,
    Status,
)
from certificates.ordering import COMMON_NAME_MAX_LENGTH, expected_subject
from certificates.representation import certificate_dict, iso_datetime
from officines.models import Environment
from officines.selectors import request_ordering_warning
from portal.api.fields import OptionalEmailField

MAX_ID = 2**63 - 1  # BigAutoField: larger ids cannot exist (and overflow SQLite)


class ServicesSerializerField(serializers.ListField):
    """`Service` codes as a JSON list: the API side of the model's `ServicesField`."""

    child = serializers.ChoiceField(choices=Service.choices)


class CertificateSerializer(serializers.Serializer):
    """List shape: exactly `certificate_dict`."""

    # The columns `certificate_dict` reads (`status` from the dates and events), for
    # `QuerySet.only()`: a list never loads the PEMs (TOASTed, ~6 kB a row), the DNs nor the
    # officine's other columns. Reading another column costs a query per row (tests/api).
    load_only = (
        "id",
        "officine_id",
        "officine__finess",
        "profile",
        "common_name",
        "serial",
        "not_before",
        "not_after",
        "usable_until",
        "fingerprint_sha256",
        "environment",
        "chain_status",
        "services",
        "revoked_at",
        "superseded_at",
    )

    id = serializers.IntegerField(read_only=True)
    officine = serializers.IntegerField(read_only=True, help_text=_("Officine id."))
    finess = serializers.CharField(read_only=True, help_text=_("FINESS of the officine."))
    profile = serializers.ChoiceField(choices=Profile.choices, read_only=True)
    common_name = serializers.CharField(read_only=True)
    serial = serializers.CharField(read_only=True, help_text=_("Hexadecimal serial number."))
    not_before = serializers.DateTimeField(read_only=True)
    not_after = serializers.DateTimeField(read_only=True)
    usable_until = serializers.DateTimeField(
        read_only=True,
        help_text=_(
            "When the certificate really ends: the earlier of not_after and the end of its "
            "private key usage period (ORG SIGN: a month before not_after). Status, alerts "
            "and coverage count from it."
        ),
    )
    fingerprint_sha256 = serializers.CharField(read_only=True)
    environment = serializers.ChoiceField(choices=Environment.choices, read_only=True)
    chain_status = serializers.ChoiceField(choices=ChainStatus.choices, read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    services = ServicesSerializerField(read_only=True)
    installed = serializers.BooleanField(
        read_only=True, help_text=_("An LGO reported installing it (POST …/installations/).")
    )

    def to_representation(self, instance: Certificate) -> dict:
        return certificate_dict(instance)


class InstallationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Installation
        fields = ["id", "host", "installed_at", "reported_by", "created_at"]
        read_only_fields = ["id", "created_at"]


class CertificateDetailSerializer(CertificateSerializer):
    """Detail shape: the list fields plus subject, issuer, lifecycle and installations."""

    subject_dn = serializers.CharField(read_only=True)
    issuer_dn = serializers.CharField(read_only=True)
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)
    revocation_reason = serializers.CharField(read_only=True, allow_blank=True)
    revocation_source = serializers.CharField(
        read_only=True,
        allow_blank=True,
        help_text=_("crl or ocsp: revoked by ANS (IGC Santé); portal: recorded in the portal."),
    )
    superseded_at = serializers.DateTimeField(read_only=True, allow_null=True)
    replaces = serializers.IntegerField(read_only=True, allow_null=True)
    request = serializers.IntegerField(
        read_only=True, allow_null=True, help_text=_("Id of the request it was issued for.")
    )
    has_private_key = serializers.BooleanField(
        read_only=True, help_text=_("The portal holds its key: a PKCS#12 can be exported.")
    )
    installations = InstallationSerializer(many=True, read_only=True)

    def to_representation(self, instance: Certificate) -> dict:
        data = certificate_dict(instance)
        data.update(
            subject_dn=instance.subject_dn,
            issuer_dn=instance.issuer_dn,
            revoked_at=iso_datetime(instance.revoked_at) if instance.revoked_at else None,
            revocation_reason=instance.revocation_reason,
            revocation_source=instance.revocation_source,
            superseded_at=iso_datetime(instance.superseded_at) if instance.superseded_at else None,
            replaces=instance.replaces_id,
            request=instance.request_id,
            has_private_key=instance.has_private_key,
            installations=InstallationSerializer(instance.installations.all(), many=True).data,
        )
        return data


class ImportResultSerializer(serializers.Serializer):
    file = serializers.CharField()
    result = serializers.ChoiceField(choices=["imported", "duplicate", "rejected"])
    code = serializers.CharField(help_text=_("Stable machine code of the outcome."))
    reason = serializers.CharField(help_text=_("What happened, for a person."))
    warnings = serializers.ListField(child=serializers.CharField())
    certificate = CertificateSerializer(allow_null=True)


class ImportReportSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = ImportResultSerializer(many=True)


class ImportUploadSerializer(serializers.Serializer):
    """multipart/form-data body of an import."""

    file = serializers.FileField(help_text=_("PEM, DER, PKCS#7 (.p7b) or PKCS#12 (.p12/.pfx)."))
    password = serializers.CharField(
        required=False, allow_blank=True, help_text=_("Passphrase of a PKCS#12 file.")
    )
    request = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text=_("Id of the request the certificate was issued for."),
    )
    services = ServicesSerializerField(
        required=False,
        help_text=_("Services to record on a certificate that matches no request."),
    )


class Pkcs12Serializer(serializers.Serializer):
    passphrase = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=_("At least 12 printable ASCII characters; protects the PKCS#12 file."),
    )
    profile = serializers.ChoiceField(
        choices=PKCS12_PROFILES,
        default="modern",
        help_text=_("`modern` (AES-256, SHA-256) or `legacy` (3DES, SHA-1) for old stores."),
    )


class InstallationReportSerializer(serializers.Serializer):
    host = serializers.CharField(
        max_length=255, help_text=_("Host name or IP address of the machine.")
    )
    installed_at = serializers.DateTimeField(
        required=False, help_text=_("When it was installed (default: now).")
    )
    reported_by = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text=_("Free label (LGO version…).")
    )


class RevocationSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=RevocationReason.choices)
    revoked_at = serializers.DateTimeField(
        required=False, help_text=_("When it was revoked on the ANS platform (default: now).")
    )


class CertificateRequestSerializer(serializers.ModelSerializer):
    """A certificate request: what is ordered, its CSR and where key generation stands."""

    url = serializers.SerializerMethodField()
    finess = serializers.CharField(source="officine.finess", read_only=True)
    services = ServicesSerializerField(read_only=True)
    contact_email = OptionalEmailField(read_only=True)
    certificate = serializers.SerializerMethodField(
        help_text=_("Id of the issued certificate once imported.")
    )
    expected_subject = serializers.SerializerMethodField(
        help_text=_(
            "The subject (C, ST, O, OU, CN) a CSR for this request must carry, field by field."
        )
    )
    ordering_warning = serializers.SerializerMethodField(
        help_text=_(
            "« ne pas commander : administrateur non habilité » while no technical "
            "administrator is habilitated by ANS for the officine; null otherwise."
        )
    )

    class Meta:
        model = CertificateRequest
        fields = [
            "id",
            "url",
            "officine",
            "finess",
            "ordering_warning",
            "profile",
            "services",
            "common_name",
            "key_mode",
            "status",
            "progress",
            "error",
            "csr_pem",
            "expected_subject",
            "requester_email",
            "contact_email",
            "renews",
            "campaign",
            "certificate",
            "created_at",
            "updated_at",
            "submitted_at",
            "issued_at",
        ]
        read_only_fields = fields

    def get_url(self, obj: CertificateRequest) -> str:
        return reverse(
            "api:certificate-request-detail", args=[obj.pk], request=self.context.get("request")
        )

    @extend_schema_field(
        {
            "type": "object",
            "properties": {f: {"type": "string"} for f in ("C", "ST", "O", "OU", "CN")},
        }
    )
    def get_expected_subject(self, obj: CertificateRequest) -> dict[str, str]:
        return expected_subject(obj.officine, obj.common_name)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_ordering_warning(self, obj: CertificateRequest) -> str | None:
        return request_ordering_warning(obj)

    def get_certificate(self, obj: CertificateRequest) -> int | None:
        certificate = getattr(obj, "certificate", None)
        return certificate.pk if certificate is not None else None


class CertificateRequestCreateSerializer(serializers.Serializer):
    finess = serializers.CharField(help_text=_("FINESS géographique of the officine."))
    profile = serializers.ChoiceField(choices=Profile.choices)
    services = ServicesSerializerField(
        allow_empty=True,
        default=list,
        help_text=_("Services the certificate is for (INSI needs CN INSI-AUTO or INSI-MANU)."),
    )
    common_name = serializers.CharField(
        max_length=COMMON_NAME_MAX_LENGTH,
        trim_whitespace=False,
        help_text=_("Service applicatif (CN)."),
    )
    key_mode = serializers.ChoiceField(
        choices=KeyMode.choices,
        default=KeyMode.CSR,
        help_text=_(
            "`csr` (default): the key is made where the certificate will be installed and "
            "only its CSR is sent, now or later (status `awaiting_csr`); `server`: the portal "
            "generates and keeps the key (answer 202, poll the request); `ans`: the key is "
            "generated online on the ANS platform (no CSR)."
        ),
    )
    csr = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=_("PEM CSR (csr mode)."),
    )
    requester_email = serializers.EmailField(
        required=False,
        help_text=_("E-mail de l'acteur; default: the officine's technical administrator."),
    )
    contact_email = OptionalEmailField(help_text=_("E-mail d'une personne à informer."))


class CampaignSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    percent = serializers.IntegerField(read_only=True)
    contact_email = OptionalEmailField(read_only=True)
    zip_url = serializers.SerializerMethodField(
        help_text=_("Download of the CSRs and the ANS worksheet, once the campaign is done.")
    )

    class Meta:
        model = RenewalCampaign
        fields = [
            "id",
            "url",
            "name",
            "status",
            "total",
            "completed",
            "percent",
            "error",
            "within_days",
            "key_mode",
            "requester_email",
            "contact_email",
            "created_at",
            "finished_at",
            "zip_url",
        ]
        read_only_fields = fields

    def get_url(self, obj: RenewalCampaign) -> str:
        return reverse("api:campaign-detail", args=[obj.pk], request=self.context.get("request"))

    def get_zip_url(self, obj: RenewalCampaign) -> str | None:
        if obj.status != CampaignStatus.DONE:
            return None
        return reverse("api:campaign-zip", args=[obj.pk], request=self.context.get("request"))


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    requester_email = serializers.EmailField(help_text=_("E-mail de l'acteur for every request."))
    contact_email = OptionalEmailField()
    certificate_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        help_text=_("Certificates to renew; or give within_days."),
    )
    within_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_WITHIN_DAYS,
        help_text=_("Renew every live certificate expiring within this many days."),
    )
    key_mode = serializers.ChoiceField(
        choices=CAMPAIGN_KEY_MODES,
        required=False,
        default="",
        allow_blank=True,
        help_text=_(
            "Omitted: each renewal keeps the key mode of the certificate it renews (a key the "
            "portal never held is renewed `awaiting_csr`, for the LGO's agent); `server`: the "
            "portal generates every new key; `csr`: every renewal awaits the LGO's CSR."
        ),
    )
