"""The ANS naming rules of a certificate request: profiles per service, the CN, the subject.

What the ANS guide asks of a request before anything is written (INSi CN, DMP pair, SERV SSL
for MSSanté operators with a host name as CN), and the subject (C, ST, O, OU, CN) the
certificate of an officine carries: what a CSR must hold, what server mode builds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cryptography import x509 as cx509
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from certificates import x509
from certificates.models import Profile, Service
from certificates.ordering.errors import field_error
from officines.models import Officine
from officines.validators import validate_insi_common_name
from portal.models import Editor

# Certificates each service needs: what `request_create_for_service` prepares.
PROFILES_FOR_SERVICE: dict[str, tuple[str, ...]] = {
    Service.DMP: (Profile.ORG_SIGN, Profile.ORG_AUTH_CLI),
    Service.INSI: (Profile.ORG_AUTH_CLI,),
    Service.PSC: (Profile.ORG_AUTH_CLI,),
    Service.MSSANTE: (Profile.ORG_AUTH_CLI,),
    Service.ROR: (Profile.ORG_AUTH_CLI,),
    Service.ROC: (Profile.ORG_AUTH_CLI,),
    Service.OTHER: (Profile.ORG_AUTH_CLI,),
}
COMMON_NAME_MAX_LENGTH = 64


_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def is_fully_qualified_domain_name(name: str) -> bool:
    """A host name such as `mss.operateur.fr`: two labels or more, the last alphabetic."""
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    return (
        len(name) <= 253
        and len(labels) >= 2
        and all(_DNS_LABEL.fullmatch(label) for label in labels)
        and labels[-1].isalpha()
    )


def profiles_for_service(*, editor: Editor, service: str) -> tuple[str, ...]:
    """Profiles a request serving `service` may have; MSSanté operators may add SERV SSL."""
    profiles = PROFILES_FOR_SERVICE[Service(service)]
    if service == Service.MSSANTE and editor.is_mssante_operator:
        profiles = (*profiles, Profile.SERV_SSL)
    return tuple(str(p) for p in profiles)


def validate_request_naming(
    *,
    editor: Editor,
    officine: Officine,
    profile: str,
    services: Sequence[str],
    common_name: str,
) -> None:
    """The ANS naming rules for one request; raises one ValidationError listing every field."""
    errors: dict[str, list[ValidationError]] = {}

    def add(field: str, message: str, code: str, params: dict | None = None) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code, params=params))

    if not isinstance(common_name, str):  # None from a careless caller: "required", not a 500
        common_name = ""
    if officine.editor_id != editor.pk:
        add("officine", _("Unknown officine."), "not_found")
    services = service_codes(services)
    unknown = [s for s in services if s not in Service.values]
    if unknown:
        add(
            "services",
            _("Unknown service: %(services)s."),
            "unknown_service",
            {"services": ", ".join(unknown)},
        )
    if profile not in Profile.values:
        add("profile", _("Unknown certificate profile."), "unknown_profile")

    if Service.INSI in services:
        if len(set(services)) > 1:
            add(
                "services",
                _("An INSi certificate serves INSi alone: request other services separately."),
                "insi_exclusive",
            )
        try:
            validate_insi_common_name(common_name)
        except ValidationError as exc:  # its message explains the mistake; no second one
            errors.setdefault("common_name", []).extend(exc.error_list)
    if "common_name" not in errors:
        _check_common_name(common_name, add)

    if (
        profile == Profile.SERV_SSL
        and "common_name" not in errors
        and not is_fully_qualified_domain_name(common_name)
    ):
        add(
            "common_name",
            _(
                "A SERV SSL certificate names a server: its CN must be a fully qualified "
                "domain name, such as mss.operateur.fr (letters, digits and hyphens, at least "
                "two labels, no wildcard)."
            ),
            "serv_ssl_fqdn",
        )
    if profile == Profile.SERV_SSL and not editor.is_mssante_operator:
        add(
            "profile",
            _("SERV SSL certificates are reserved for MSSanté operators."),
            "serv_ssl_operator_only",
        )
    elif profile in Profile.values and not unknown:
        for service in services:
            if profile not in profiles_for_service(editor=editor, service=service):
                add(
                    "profile",
                    _(
                        "A %(profile)s certificate does not serve %(service)s (expected: %(allowed)s)."
                    ),
                    "profile_service",
                    {
                        "profile": Profile(profile).label,
                        "service": Service(service).label,
                        "allowed": ", ".join(
                            Profile(p).label
                            for p in profiles_for_service(editor=editor, service=service)
                        ),
                    },
                )
    if errors:
        raise ValidationError(errors)


def service_codes(services: Iterable[str] | str | None) -> list[str]:
    """Sorted distinct codes; a lone string is one code (not its letters)."""
    if not services:
        return []
    if isinstance(services, str):
        services = [services]
    return sorted({str(code) for code in services})


def _check_common_name(common_name: str, add) -> None:
    if not common_name or not common_name.strip():
        add("common_name", _("Give the application name (CN)."), "required")
        return
    # X.509 counts UTF-8 bytes (ub-common-name): an accented letter takes two.
    if len(common_name.encode("utf-8")) > COMMON_NAME_MAX_LENGTH:
        add(
            "common_name",
            _(
                "The application name (CN) has at most %(limit)d characters "
                "(accented letters count twice)."
            ),
            "max_length",
            {"limit": COMMON_NAME_MAX_LENGTH},
        )
    if not common_name.isprintable():
        add(
            "common_name",
            _("The application name (CN) contains a non-printable character."),
            "not_printable",
        )
    elif common_name != common_name.strip():
        add(
            "common_name",
            _("The application name (CN) must not start or end with a space."),
            "whitespace",
        )


def expected_subject(officine: Officine, common_name: str) -> dict[str, str]:
    """The subject fields a CSR for this officine and CN must carry (C, ST, O, OU, CN)."""
    return {
        "C": "FR",
        "ST": officine.department_label,
        "O": officine.raison_sociale,
        "OU": officine.structure_identifier,
        "CN": common_name,
    }


def officine_subject(officine: Officine, common_name: str) -> cx509.Name:
    """The DN of a server-mode CSR; raises X509Error when the officine's data cannot make one."""
    return x509.build_subject(
        department=officine.department_label,
        raison_sociale=officine.raison_sociale,
        finess=officine.finess,
        common_name=common_name,
    )


def invalid_subject_message() -> str:
    return _(
        "The officine's data cannot make a certificate subject (check its "
        "département, raison sociale of at most 64 characters and FINESS)."
    )


def check_subject_buildable(officine: Officine, common_name: str) -> None:
    """Server mode builds the DN from the officine: refuse now what would fail in the task."""
    try:
        officine_subject(officine, common_name)
    except (x509.X509Error, ValueError) as exc:
        raise field_error("officine", invalid_subject_message(), "invalid_subject") from exc
