"""Certificate requests: naming rules, CSR checks, key generation, lifecycle, renewals.

Real keys, real CSRs checked by the real openssl; refusals leave no row behind.
"""

from __future__ import annotations

import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections, transaction
from django.utils import translation

from certificates import keystore, x509
from certificates.models import (
    Certificate,
    CertificateRequest,
    KeyMode,
    Profile,
    RequestStatus,
    Service,
)
from certificates.ordering import (
    PROFILES_FOR_SERVICE,
    csr_generate,
    expected_subject,
    profiles_for_service,
    request_cancel,
    request_create_for_service,
    request_create_renewal,
    request_mark_issued,
    request_mark_submitted,
    request_upload_csr,
    services,
    validate_csr,
    validate_request_naming,
)
from certificates.tasks import generate_csr
from portal.models import ApiKey, AuditEvent
from tests.factories import OfficineFactory
from tests.helpers.requests import REQUESTER, create
from tests.helpers.tools import OPENSSL, requires_openssl

pytestmark = pytest.mark.django_db

# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def keys():
    """A few distinct RSA 2048 keys (a CSR key may certify once, so tests need several)."""
    return [x509.generate_private_key() for _ in range(4)]


@pytest.fixture(scope="session")
def weak_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505


@pytest.fixture
def officine(tenant_a):
    return tenant_a.officine


@pytest.fixture
def eager(settings):
    """Celery runs tasks inline, so on-commit enqueueing really generates the key."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


def subject_of(officine, *, common_name="LGO", o=None, ou=None) -> cx509.Name:
    return cx509.Name(
        [
            cx509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            cx509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, officine.department_label),
            cx509.NameAttribute(NameOID.ORGANIZATION_NAME, o or officine.raison_sociale),
            cx509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou or "1" + officine.finess),
            cx509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_csr(key, subject: cx509.Name, *, der: bool = False) -> bytes:
    csr = cx509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def codes(exc: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in exc.error_dict.items()}


@contextmanager
def refused(field: str, code: str):
    """Expect a ValidationError on `field` with `code`, and no request nor audit row written."""
    requests_before = CertificateRequest.objects.count()
    audit_before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        yield info
    assert code in codes(info.value).get(field, []), codes(info.value)
    assert CertificateRequest.objects.count() == requests_before
    assert AuditEvent.objects.count() == audit_before


@contextmanager
def forbidden():
    """Expect PermissionDenied (portal.permissions), and no request nor audit row written."""
    requests_before = CertificateRequest.objects.count()
    audit_before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied) as info:
        yield info
    assert CertificateRequest.objects.count() == requests_before
    assert AuditEvent.objects.count() == audit_before


def openssl(*args: str, data: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "request.csr"
    path.write_bytes(data)
    return subprocess.run(
        [OPENSSL, *args, "-in", str(path)], capture_output=True, text=True, check=False
    )


# --------------------------------------------------------------------------- server mode


@requires_openssl
def test_server_mode_end_to_end(
    officine, tenant_a, eager, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        request = create(officine, actor=tenant_a.operator, enqueue=True)
        assert (request.status, request.progress) == (RequestStatus.PENDING, 0)
    assert len(callbacks) == 1

    request.refresh_from_db()
    assert (request.status, request.progress, request.error) == (RequestStatus.CSR_READY, 100, "")
    assert request.created_by == tenant_a.operator
    assert request.contact_email == officine.cc_email

    pem = request.csr_pem.encode()
    verify = openssl("req", "-verify", "-noout", data=pem, tmp_path=tmp_path)
    assert verify.returncode == 0, verify.stderr
    assert "verify OK" in verify.stdout + verify.stderr
    subject = openssl(
        "req", "-subject", "-noout", "-nameopt", "RFC2253,-esc_msb", data=pem, tmp_path=tmp_path
    )
    assert subject.stdout.strip() == (
        f"subject=CN=LGO,OU=1{officine.finess},O={officine.raison_sociale},ST=Rhône (69),C=FR"
    )

    csr = cx509.load_pem_x509_csr(pem)
    assert [a.oid for a in csr.subject] == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]
    assert csr.subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == (
        "Rhône (69)"
    )
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    assert csr.public_key().key_size == 2048

    key = keystore.private_key_for(request=request, actor=None, reason="test")
    assert x509.public_key_sha256(key.public_key()) == request.public_key_sha256
    assert x509.public_key_sha256(csr.public_key()) == request.public_key_sha256
    actions = list(
        AuditEvent.objects.filter(target_id=str(request.pk))
        .order_by("id")
        .values_list("action", "actor_label")
    )
    assert actions == [
        ("request.create", tenant_a.operator.email),
        ("key.generate", "system"),
        ("key.decrypt", "system"),
    ]


def test_generation_is_idempotent(officine):
    request = create(officine)
    first = csr_generate(request_id=request.pk)
    envelope = bytes(first.encrypted_private_key)
    generate_csr(request.pk)  # the task itself, run twice in a row
    request.refresh_from_db()
    assert request.csr_pem == first.csr_pem
    assert bytes(request.encrypted_private_key) == envelope
    assert AuditEvent.objects.filter(action="key.generate").count() == 1


def test_task_of_a_deleted_request_does_nothing(officine):
    request = create(officine)
    request_id = request.pk
    request.delete()
    generate_csr(request_id)  # no exception: the request is gone, nothing to generate
    assert not CertificateRequest.objects.exists()


def test_cancelled_request_gets_no_key(officine):
    request = create(officine)
    request_cancel(request=request)
    csr_generate(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED
    assert request.encrypted_private_key is None


def test_ec_key_through_settings(officine, settings):
    settings.CERTIFICATE_KEY_ALGORITHM = "EC"
    request = csr_generate(request_id=create(officine).pk)
    csr = cx509.load_pem_x509_csr(request.csr_pem.encode())
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)


def test_generation_failure_is_recorded_not_raised(officine):
    request = create(officine)
    type(officine).objects.filter(pk=officine.pk).update(department="")  # data changed since
    result = csr_generate(request_id=request.pk)
    assert result.status == RequestStatus.PENDING
    assert result.error
    assert result.encrypted_private_key is None


def test_generation_failure_is_recorded_in_the_user_language(officine):
    """The stored error is the translatable message, not x509's French-only text."""
    request = create(officine)
    type(officine).objects.filter(pk=officine.pk).update(department="")
    with translation.override("en"):
        result = csr_generate(request_id=request.pk)
    assert result.error.startswith("The key could not be generated: The officine's data")
    assert "Le champ" not in result.error


def test_server_mode_refuses_an_officine_that_cannot_make_a_subject(tenant_a):
    officine = OfficineFactory(editor=tenant_a.editor, raison_sociale="P" * 65)
    with refused("officine", "invalid_subject"):
        create(officine)


# --------------------------------------------------------------------------- CSR mode


@pytest.mark.parametrize("der", [False, True], ids=["pem", "der"])
def test_csr_mode_accepts_pem_and_der(officine, keys, der):
    data = make_csr(keys[0], subject_of(officine), der=der)
    request = create(officine, key_mode=KeyMode.CSR, csr=data)
    assert (request.status, request.progress) == (RequestStatus.CSR_READY, 100)
    assert request.csr_pem.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert request.public_key_sha256 == x509.public_key_sha256(keys[0].public_key())
    assert request.encrypted_private_key is None
    request.refresh_from_db()
    assert cx509.load_pem_x509_csr(request.csr_pem.encode()).is_signature_valid


@pytest.mark.parametrize(
    "field, oid, bad",
    [
        ("C", NameOID.COUNTRY_NAME, "BE"),
        ("ST", NameOID.STATE_OR_PROVINCE_NAME, "Ain (01)"),
        ("O", NameOID.ORGANIZATION_NAME, "pharmacie du rhone 21"),
        ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME, "1690001003"),
        ("CN", NameOID.COMMON_NAME, "lgo"),
    ],
)
def test_csr_subject_must_equal_the_expected_one_field_by_field(officine, keys, field, oid, bad):
    """Issue 14 §4: a mismatch names the field and both values (was: case and accents were
    forgiven and O/OU could be left out)."""
    expected = expected_subject(officine, "LGO")
    attributes = [
        cx509.NameAttribute(oid_of, bad if oid_of == oid else expected[name])
        for name, oid_of in (
            ("C", NameOID.COUNTRY_NAME),
            ("ST", NameOID.STATE_OR_PROVINCE_NAME),
            ("O", NameOID.ORGANIZATION_NAME),
            ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME),
            ("CN", NameOID.COMMON_NAME),
        )
    ]
    with refused("csr", f"csr_{field.lower()}_mismatch") as info:
        create(officine, key_mode=KeyMode.CSR, csr=make_csr(keys[0], cx509.Name(attributes)))
    message = info.value.message_dict["csr"][0]
    assert f'{field}="{bad}"' in message and f'{field}="{expected[field]}"' in message


def test_csr_missing_a_subject_field_is_refused(officine, keys):
    bare = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "LGO")])
    with refused("csr", "csr_c_mismatch") as info:
        create(officine, key_mode=KeyMode.CSR, csr=make_csr(keys[1], bare, der=True))
    assert 'C="FR"' in info.value.message_dict["csr"][0]


def test_weak_csr_key_refused(officine, weak_key):
    with refused("csr", "weak_key") as info:
        create(officine, key_mode=KeyMode.CSR, csr=make_csr(weak_key, subject_of(officine)))
    assert "1024" in info.value.message_dict["csr"][0]


def test_csr_allowed_keys_come_from_settings(officine, settings):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with refused("csr", "unsupported_key"):
        create(officine, key_mode=KeyMode.CSR, csr=make_csr(ec_key, subject_of(officine)))
    settings.CSR_ALLOWED_KEYS = {"RSA": 2048, "EC": 256}
    request = create(officine, key_mode=KeyMode.CSR, csr=make_csr(ec_key, subject_of(officine)))
    assert request.status == RequestStatus.CSR_READY


def test_broken_signature_refused(officine, keys):
    data = bytearray(make_csr(keys[0], subject_of(officine), der=True))
    data[-1] ^= 0x01  # last byte of the signature
    with refused("csr", "bad_signature"):
        create(officine, key_mode=KeyMode.CSR, csr=bytes(data))


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "empty"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not_a_csr"),
        (b"\x30\x03\x02\x01", "corrupt"),
    ],
)
def test_unreadable_csr_refused(officine, data, code):
    with refused("csr", code):
        validate_csr(csr=data, officine=officine)


def test_csr_with_another_structure_refused(officine, keys):
    other = OfficineFactory(editor=officine.editor)
    data = make_csr(keys[0], subject_of(officine, ou="1" + other.finess))
    with refused("csr", "csr_ou_mismatch") as info:
        create(officine, key_mode=KeyMode.CSR, csr=data)
    assert other.finess in info.value.message_dict["csr"][0]


def test_csr_with_another_organisation_refused(officine, keys):
    data = make_csr(keys[0], subject_of(officine, o="PHARMACIE DE LA GARE"))
    with refused("csr", "csr_o_mismatch"):
        create(officine, key_mode=KeyMode.CSR, csr=data)


def test_key_reuse_refused(officine, keys, shared_key, make_certificate):
    make_certificate(officine)  # a certificate of the portal already holds shared_key
    with refused("csr", "key_reuse"):
        create(officine, key_mode=KeyMode.CSR, csr=make_csr(shared_key, subject_of(officine)))
    data = make_csr(keys[0], subject_of(officine))
    create(officine, key_mode=KeyMode.CSR, csr=data)
    with refused("csr", "key_reuse"):  # the same CSR twice
        create(officine, key_mode=KeyMode.CSR, csr=data)
    with refused("csr", "key_reuse"):  # the same key, even for another CN
        other = make_csr(keys[0], subject_of(officine, common_name="OTHER"))
        create(officine, key_mode=KeyMode.CSR, csr=other, common_name="OTHER")


def test_key_of_another_tenant_is_refused_too(officine, tenant_b, keys):
    """Key reuse is portal-wide; the message names no one."""
    data_b = make_csr(keys[0], subject_of(tenant_b.officine))
    create(tenant_b.officine, key_mode=KeyMode.CSR, csr=data_b)
    with refused("csr", "key_reuse") as info:
        create(officine, key_mode=KeyMode.CSR, csr=make_csr(keys[0], subject_of(officine)))
    assert "EditeurB" not in str(info.value)
    assert tenant_b.officine.finess not in str(info.value)


def test_server_mode_takes_no_csr(officine, keys):
    with refused("csr", "csr_not_expected"):
        create(officine, csr=make_csr(keys[0], subject_of(officine)))


def test_csr_mode_without_csr_waits_for_upload(officine, keys, tenant_a):
    request = create(officine, key_mode=KeyMode.CSR)
    assert (request.status, request.csr_pem) == (RequestStatus.AWAITING_CSR, "")
    with pytest.raises(ValidationError) as info:
        request_upload_csr(request=request, csr=make_csr(keys[0], subject_of(officine, ou="1999")))
    assert codes(info.value) == {"csr": ["csr_ou_mismatch"]}
    request.refresh_from_db()
    assert request.status == RequestStatus.AWAITING_CSR

    request_upload_csr(
        request=request, csr=make_csr(keys[0], subject_of(officine)), actor=tenant_a.operator
    )
    request.refresh_from_db()
    assert (request.status, request.progress) == (RequestStatus.CSR_READY, 100)
    assert AuditEvent.objects.filter(
        action="request.upload_csr", target_id=str(request.pk)
    ).exists()
    with refused("status", "invalid_transition"):
        request_upload_csr(request=request, csr=make_csr(keys[1], subject_of(officine)))


def test_upload_to_a_server_mode_request_refused(officine, keys):
    request = create(officine)
    with refused("csr", "csr_not_expected"):
        request_upload_csr(request=request, csr=make_csr(keys[0], subject_of(officine)))


# --------------------------------------------------------------------------- naming rules


@pytest.mark.parametrize(
    "common_name, code",
    [
        ("insi-auto", "insi_case"),
        ("INSI AUTO", "insi_space"),
        (" INSI-AUTO", "insi_space"),
        ("INSI-AUTOMATE", "insi_unknown"),
    ],
)
def test_insi_common_name_mistakes(officine, common_name, code):
    with refused("common_name", code) as info:
        create(officine, services=[Service.INSI], common_name=common_name)
    assert len(info.value.message_dict["common_name"]) == 1  # one clear message, not two


@pytest.mark.parametrize("common_name", ["INSI-AUTO", "INSI-MANU"])
def test_insi_common_names_accepted(officine, common_name):
    request = create(officine, services=[Service.INSI], common_name=common_name)
    assert request.services == [Service.INSI]


def test_insi_serves_insi_alone_with_auth_cli(officine):
    with refused("services", "insi_exclusive"):
        create(officine, services=[Service.INSI, Service.DMP], common_name="INSI-AUTO")
    with refused("profile", "profile_service"):
        create(officine, services=[Service.INSI], common_name="INSI-AUTO", profile=Profile.ORG_SIGN)


def test_dmp_prepares_sign_and_auth_cli(officine, tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        created = request_create_for_service(
            officine=officine,
            service=Service.DMP,
            common_name="DMP LGO",
            key_mode=KeyMode.SERVER,
            requester_email=REQUESTER,
            actor=tenant_a.operator,
        )
    assert [r.profile for r in created] == [Profile.ORG_SIGN, Profile.ORG_AUTH_CLI]
    assert all(r.services == [Service.DMP] and r.pk for r in created)
    assert len(callbacks) == 2  # one key generation each
    assert AuditEvent.objects.filter(action="request.create").count() == 2


def test_dmp_with_one_csr_refused(officine, keys):
    with refused("csr", "csr_one_per_request"):
        request_create_for_service(
            officine=officine,
            service=Service.DMP,
            common_name="DMP LGO",
            key_mode=KeyMode.CSR,
            requester_email=REQUESTER,
            csr=make_csr(keys[0], subject_of(officine)),
        )


def test_for_service_is_all_or_nothing(officine):
    with refused("common_name", "required"):
        request_create_for_service(
            officine=officine,
            service=Service.DMP,
            common_name="",
            key_mode=KeyMode.SERVER,
            requester_email=REQUESTER,
        )


def test_serv_ssl_only_for_mssante_operators(officine):
    host = "mss.operateur.example"  # a SERV SSL certificate names a server (FQDN)
    with refused("profile", "serv_ssl_operator_only"):
        create(officine, profile=Profile.SERV_SSL, services=[Service.MSSANTE], common_name=host)
    officine.editor.is_mssante_operator = True
    officine.editor.save()
    officine.refresh_from_db()
    request = create(
        officine, profile=Profile.SERV_SSL, services=[Service.MSSANTE], common_name=host
    )
    assert request.profile == Profile.SERV_SSL
    with refused("profile", "profile_service"):  # still not for another service
        create(officine, profile=Profile.SERV_SSL, services=[Service.PSC], common_name=host)
    with refused("common_name", "serv_ssl_fqdn"):
        create(officine, profile=Profile.SERV_SSL, services=[Service.MSSANTE])


def test_profiles_for_service(tenant_a):
    editor = tenant_a.editor
    assert profiles_for_service(editor=editor, service="DMP") == ("ORG_SIGN", "ORG_AUTH_CLI")
    assert profiles_for_service(editor=editor, service="MSSANTE") == ("ORG_AUTH_CLI",)
    editor.is_mssante_operator = True
    assert profiles_for_service(editor=editor, service="MSSANTE") == ("ORG_AUTH_CLI", "SERV_SSL")
    assert set(PROFILES_FOR_SERVICE) == set(Service.values)
    for service in ("INSI", "PSC", "ROR", "ROC", "OTHER"):
        assert profiles_for_service(editor=editor, service=service) == ("ORG_AUTH_CLI",)


@pytest.mark.parametrize(
    "common_name, code",
    [
        ("", "required"),
        ("   ", "required"),
        ("X" * 65, "max_length"),
        ("LGO\x07", "not_printable"),
        ("LGO ", "whitespace"),
    ],
)
def test_common_name_rules(officine, common_name, code):
    with refused("common_name", code):
        create(officine, common_name=common_name)


def test_free_common_name_outside_insi(officine):
    name = "Proxy DMP CHU Nantes é" + "x" * 41  # 63 characters, 64 UTF-8 bytes
    request = csr_generate(request_id=create(officine, common_name=name).pk)
    csr = cx509.load_pem_x509_csr(request.csr_pem.encode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    with refused("common_name", "max_length"):  # 64 characters but 65 bytes
        create(officine, common_name=name + "x")


def test_naming_reports_every_field_at_once(tenant_a, officine):
    with pytest.raises(ValidationError) as info:
        validate_request_naming(
            editor=tenant_a.editor,
            officine=officine,
            profile="NOPE",
            services=["INSI", "XYZ"],
            common_name="insi-auto",
        )
    found = codes(info.value)
    assert found["profile"] == ["unknown_profile"]
    assert set(found["services"]) == {"unknown_service", "insi_exclusive"}
    assert found["common_name"] == ["insi_case"]


@pytest.mark.parametrize(
    "field, value, code",
    [
        ("requester_email", "", "required"),
        ("requester_email", "not-an-address", "invalid"),
        ("contact_email", "nope@", "invalid"),
        ("key_mode", "hsm", "invalid"),
    ],
)
def test_form_fields(officine, field, value, code):
    with refused(field, code):
        create(officine, **{field: value})


def test_contact_email_defaults_to_officine_cc(officine):
    officine.cc_email = "titulaire@pharmacie.example"
    officine.save()
    assert create(officine).contact_email == "titulaire@pharmacie.example"
    assert create(officine, contact_email="x@y.fr", common_name="B").contact_email == "x@y.fr"


def test_deactivated_officine_refused(officine):
    officine.is_active = False
    officine.save()
    with refused("officine", "inactive"):
        create(officine)


# --------------------------------------------------------------------------- tenancy


def test_officine_of_another_editor_refused(tenant_a, tenant_b):
    with forbidden():
        create(tenant_b.officine, actor=tenant_a.operator)
    with forbidden():
        create(tenant_a.officine, actor=tenant_b.admin)


def test_pharmacist_acts_only_on_own_officine(tenant_a):
    request = create(tenant_a.pharmacist_officine, actor=tenant_a.pharmacist)
    assert request.created_by == tenant_a.pharmacist
    with forbidden():
        create(tenant_a.officine, actor=tenant_a.pharmacist)


def test_api_key_actor_of_another_editor_refused(tenant_a, tenant_b):
    key = ApiKey(editor=tenant_b.editor, name="B", scopes=["read", "write"])
    with forbidden():
        create(tenant_a.officine, actor=key)


def test_renewal_of_a_foreign_certificate_refused(tenant_a, tenant_b, make_certificate):
    certificate = make_certificate(tenant_b.officine)
    with forbidden():
        request_create_renewal(certificate=certificate, actor=tenant_a.operator, enqueue=False)


# --------------------------------------------------------------------------- renewals


def test_renewal_copies_the_certificate(tenant_a, make_certificate):
    certificate = make_certificate(tenant_a.officine, common_name="INSI-AUTO", services=["INSI"])
    request = request_create_renewal(
        certificate=certificate, actor=tenant_a.operator, enqueue=False
    )
    assert (request.officine, request.profile, request.common_name, request.services) == (
        tenant_a.officine,
        certificate.profile,
        "INSI-AUTO",
        ["INSI"],
    )
    assert request.renews == certificate
    assert request.requester_email == tenant_a.administrator.email
    # Issue 14 §4: the portal never held this key (imported certificate): the renewal keeps
    # the key where the certificate is installed and awaits the LGO's CSR.
    assert (request.key_mode, request.status) == (KeyMode.CSR, RequestStatus.AWAITING_CSR)


def test_renewal_without_administrator_uses_the_actor(tenant_a, make_certificate):
    officine = OfficineFactory(editor=tenant_a.editor)  # mode éditeur, no administrator
    certificate = make_certificate(officine)
    request = request_create_renewal(
        certificate=certificate, actor=tenant_a.operator, enqueue=False
    )
    assert request.requester_email == tenant_a.operator.email


def test_two_renewals_resolve_to_one_request(tenant_a, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    first = request_create_renewal(certificate=certificate, actor=tenant_a.operator, enqueue=False)
    second = request_create_renewal(certificate=certificate, actor=tenant_a.admin, enqueue=False)
    assert first.pk == second.pk
    assert CertificateRequest.objects.filter(renews=certificate).count() == 1
    # Once closed, a new renewal may start.
    request_cancel(request=first)
    third = request_create_renewal(certificate=certificate, enqueue=False)
    assert third.pk != first.pk


def test_renewal_race_caught_by_the_constraint(tenant_a, make_certificate, monkeypatch, caplog):
    """The loser's pre-check misses the winner's row: the unique index decides, no error."""
    certificate = make_certificate(tenant_a.officine)
    winner = request_create_renewal(certificate=certificate, enqueue=False)
    real = services._open_renewal
    calls: list[int] = []

    def first_look_up_misses(certificate):  # as if the winner had not committed yet
        calls.append(certificate.pk)
        return None if len(calls) == 1 else real(certificate)

    monkeypatch.setattr(services, "_open_renewal", first_look_up_misses)
    with caplog.at_level("INFO", logger="certificates.ordering.services"):
        loser = request_create_renewal(certificate=certificate, actor=tenant_a.admin, enqueue=False)
    assert loser.pk == winner.pk
    assert "joined request" in caplog.text  # the IntegrityError path, not the pre-check
    assert len(calls) == 2
    assert CertificateRequest.objects.filter(renews=certificate).count() == 1
    assert AuditEvent.objects.filter(action="request.create").count() == 1
    # request_create, which is not a renewal helper, reports it per field instead.
    monkeypatch.setattr(services, "_open_renewal", real)
    with refused("renews", "renewal_exists"):
        create(tenant_a.officine, renews=certificate)


def test_revoked_certificate_is_not_renewed(tenant_a, make_certificate):
    from django.utils import timezone

    certificate = make_certificate(tenant_a.officine, revoked_at=timezone.now())
    with refused("renews", "not_renewable"):
        request_create_renewal(certificate=certificate, enqueue=False)


def test_renewal_with_the_old_key_refused(tenant_a, make_certificate, shared_key):
    certificate = make_certificate(tenant_a.officine)
    csr = make_csr(shared_key, subject_of(tenant_a.officine))
    with refused("csr", "key_reuse"):
        request_create_renewal(certificate=certificate, key_mode=KeyMode.CSR, csr=csr)


def _wait_for_lock_waiter(timeout: float = 10.0) -> None:
    """Return once another backend waits on this one's lock (the loser's insert)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            # Lock requests blocked by this backend; pg_locks is live, unlike pg_stat_activity
            # (a per-transaction snapshot), and other databases' waits do not count.
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the second renewal never waited on the first one's row")


@pytest.mark.django_db(transaction=True)
def test_concurrent_renewals_on_postgresql(tenant_a, make_certificate, caplog):
    if connection.vendor != "postgresql":
        pytest.skip("row locks between two connections need PostgreSQL")
    certificate = make_certificate(tenant_a.officine)
    results: dict[str, int] = {}
    errors: list[BaseException] = []
    first_inserted = threading.Event()

    def winner() -> None:
        try:
            with transaction.atomic():
                results["winner"] = request_create_renewal(
                    certificate=certificate, actor=tenant_a.operator, enqueue=False
                ).pk
                first_inserted.set()
                _wait_for_lock_waiter()  # hold the uncommitted row until the loser blocks
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            first_inserted.set()
        finally:
            connections.close_all()

    def loser() -> None:
        try:
            first_inserted.wait(10)
            results["loser"] = request_create_renewal(
                certificate=certificate, actor=tenant_a.admin, enqueue=False
            ).pk
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=winner), threading.Thread(target=loser)]
    with caplog.at_level("INFO", logger="certificates.ordering.services"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    assert results["winner"] == results["loser"]
    assert "joined request" in caplog.text  # the loser hit the unique index and recovered
    assert CertificateRequest.objects.filter(renews=certificate).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_generation_makes_one_key_on_postgresql(officine):
    if connection.vendor != "postgresql":
        pytest.skip("row locks between two connections need PostgreSQL")
    request = create(officine)
    barrier = threading.Barrier(2)
    hashes_seen: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(10)
            hashes_seen.append(csr_generate(request_id=request.pk).public_key_sha256)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(hashes_seen) == 2 and hashes_seen[0] == hashes_seen[1]
    assert AuditEvent.objects.filter(action="key.generate").count() == 1


# --------------------------------------------------------------------------- lifecycle


def test_state_machine(tenant_a, keys, pki):
    officine = tenant_a.officine
    request = create(officine, key_mode=KeyMode.CSR, csr=make_csr(keys[0], subject_of(officine)))
    request_mark_submitted(request=request, actor=tenant_a.operator)
    assert request.status == RequestStatus.SUBMITTED and request.submitted_at
    assert AuditEvent.objects.filter(action="request.submit").count() == 1
    with refused("status", "invalid_transition"):
        request_mark_submitted(request=request)

    issued = pki.issue(csr_pem=request.csr_pem.encode(), profile=x509.Profile.ORG_AUTH_CLI)
    info = x509.describe_certificate(issued)
    certificate = Certificate.objects.create(
        editor=tenant_a.editor,
        officine=officine,
        profile=request.profile,
        common_name="LGO",
        serial=info.serial,
        subject_dn=info.subject,
        issuer_dn=info.issuer,
        not_before=info.not_before,
        not_after=info.not_after,
        fingerprint_sha256=info.fingerprint_sha256,
        public_key_sha256=info.public_key_sha256,
        chain_status="trusted_production",
        pem=info.pem,
    )
    request_mark_issued(request=request, certificate=certificate)
    request_mark_issued(request=request, certificate=certificate)  # imported twice: fine
    request.refresh_from_db()
    certificate.refresh_from_db()
    assert request.status == RequestStatus.ISSUED and request.issued_at
    assert certificate.request == request
    with refused("status", "invalid_transition"):
        request_cancel(request=request)


def test_mark_issued_needs_the_same_key(tenant_a, keys, make_certificate):
    officine = tenant_a.officine
    request = create(officine, key_mode=KeyMode.CSR, csr=make_csr(keys[0], subject_of(officine)))
    certificate = make_certificate(officine)  # shared_key, not keys[0]
    with pytest.raises(ValidationError) as info:
        request_mark_issued(request=request, certificate=certificate)
    assert codes(info.value) == {"certificate": ["key_mismatch"]}
    request.refresh_from_db()
    assert request.status == RequestStatus.CSR_READY


def test_pending_cannot_be_submitted_and_cancel_is_final(officine, tenant_a):
    request = create(officine)
    with refused("status", "invalid_transition"):
        request_mark_submitted(request=request)
    request_cancel(request=request, actor=tenant_a.operator)
    assert request.status == RequestStatus.CANCELLED
    event = AuditEvent.objects.get(action="request.cancel")
    assert event.actor == tenant_a.operator
    with refused("status", "invalid_transition"):
        request_cancel(request=request)


# --------------------------------------------------------------------------- costs


def test_csr_mode_creation_query_budget(officine, keys, tenant_a, django_assert_max_num_queries):
    data = make_csr(keys[0], subject_of(officine))
    officine = type(officine).objects.select_related("editor").get(pk=officine.pk)
    # actor scope (2), key reuse (2), insert in a savepoint (3), audit (1), outer atomic (2)
    with django_assert_max_num_queries(10):
        create(officine, key_mode=KeyMode.CSR, csr=data, actor=tenant_a.operator)


# --------------------------------------------------------------------------- real worker

REDIS_URL = "redis://127.0.0.1:6379/3"  # this suite's Redis database


def _redis():
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        return client
    except Exception:  # no server: the test is skipped
        return None


def _reset_producers(app) -> None:
    """Drop Celery's cached broker connections so the next send reads broker_url again."""
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_worker_generates_from_an_id_only_message(officine, settings, monkeypatch):
    """On commit → Redis → `celery worker` → CSR: the message carries the id, never a key."""
    import base64
    import json
    import os
    import sys

    client = _redis()
    if connection.vendor != "postgresql" or client is None:
        pytest.skip("needs PostgreSQL (shared with the worker) and Redis")
    client.flushdb()
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from portal.celery import app

    monkeypatch.setattr(app.conf, "broker_url", REDIS_URL)
    was_eager = app.conf.task_always_eager  # an earlier test may have set it on the app
    app.conf.task_always_eager = False
    _reset_producers(app)  # a producer made by an earlier test would keep its broker
    producer_connection = app.connection_for_write()
    assert (producer_connection.transport_cls, producer_connection.virtual_host) == ("redis", "3")
    try:
        request = create(officine, enqueue=True)  # autocommit: on_commit runs at once
    finally:  # later tests must not reuse a producer connected to this Redis
        app.conf.task_always_eager = was_eager
        _reset_producers(app)

    messages = client.lrange("celery", 0, -1)
    assert len(messages) == 1
    envelope = json.loads(messages[0])
    body = base64.b64decode(envelope["body"]).decode()
    assert envelope["headers"]["task"] == "certificates.tasks.generate_csr"
    assert json.loads(body)[1] == {"request_id": request.pk}  # (args, kwargs, embed)
    assert "PRIVATE" not in body and "BEGIN" not in body

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "TESTING": "1",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "KEY_ENCRYPTION_KEYS": ",".join(settings.KEY_ENCRYPTION_KEYS),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            request.refresh_from_db()
            if request.status == RequestStatus.CSR_READY or worker.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
        client.flushdb()
    assert request.status == RequestStatus.CSR_READY, output
    assert request.progress == 100
    assert "PRIVATE KEY" not in output
    key = keystore.private_key_for(request=request, actor=None, reason="test")
    assert x509.public_key_sha256(key.public_key()) == request.public_key_sha256


def test_careless_input_is_a_field_error_not_a_crash(officine):
    with refused("common_name", "required"):
        create(officine, common_name=None)
    with refused("common_name", "insi_unknown"):
        create(officine, services=[Service.INSI], common_name=None)
    with refused("requester_email", "required"):
        create(officine, requester_email=None)
    with refused("services", "unknown_service"):
        create(officine, services=[["DMP"]])
    assert create(officine, services="PSC").services == [Service.PSC]


def test_generation_query_budget(officine, django_assert_max_num_queries):
    request = create(officine)
    # progress (1), savepoint (2), locked read with officine (1), update (1), audit (1)
    with django_assert_max_num_queries(6):
        csr_generate(request_id=request.pk)
