"""Objects of a tenant addressed by the certificate pages and API key settings, for the
cross-tenant walk in tests/test_isolation.py (created once per tenant, then reused)."""

from __future__ import annotations

from functools import cache

from tests.helpers.certificates import certificate_row


@cache
def _pki_and_key():
    from certificates import x509
    from certificates.demo_pki import DemoPKI

    return DemoPKI.create(), x509.generate_private_key()


def certificate_ui_objects(tenant) -> dict[str, object]:
    from certificates.models import Certificate, CertificateRequest, RenewalCampaign
    from portal.api.keys import api_key_create
    from portal.models import ApiKey

    certificate = Certificate.objects.filter(editor=tenant.editor).first()
    if certificate is None:
        pki, key = _pki_and_key()
        certificate = certificate_row(pki, key, tenant.officine, common_name="ISOLATION")
    request = CertificateRequest.objects.filter(editor=tenant.editor).first()
    if request is None:
        request = CertificateRequest.objects.create(
            editor=tenant.editor,
            officine=tenant.officine,
            profile="ORG_AUTH_CLI",
            services=["PSC"],
            common_name="ISOLATION",
            key_mode="csr",
            requester_email="admin-tech@lgo.example",
        )
    campaign = RenewalCampaign.objects.filter(editor=tenant.editor).first()
    if campaign is None:
        campaign = RenewalCampaign.objects.create(
            editor=tenant.editor, name="ISOLATION", requester_email="admin-tech@lgo.example"
        )
    api_key = ApiKey.objects.filter(editor=tenant.editor).first()
    if api_key is None:
        api_key, _raw = api_key_create(
            editor=tenant.editor, name="ISOLATION", scopes=["read"], actor=None
        )
    objects: dict[str, object] = {"certificates:officine": tenant.officine}
    for name in ("detail", "download", "export_pkcs12", "renew", "revoke", "revocation_check"):
        objects[f"certificates:{name}"] = certificate
    for name in (
        "detail",
        "progress",
        "csr",
        "submit",
        "cancel",
        "upload_csr",
        "upload_certificate",
    ):
        objects[f"certificates:request_{name}"] = request
    for name in ("detail", "progress", "zip", "worksheet", "resume"):
        objects[f"certificates:campaign_{name}"] = campaign
    objects["settings_api_key_revoke"] = api_key
    return objects
