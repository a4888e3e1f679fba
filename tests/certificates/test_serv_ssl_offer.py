"""SERV SSL is its own ANS offer: FQDN common name, MSSanté operators only, said on the
request page and in the campaign worksheet."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from certificates.offers import ans_offer
from certificates.ordering import is_fully_qualified_domain_name, validate_request_naming

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("mss.operateur.fr", True),
        ("MSS-1.Operateur.example.", True),
        ("mss", False),
        ("*.operateur.fr", False),
        ("mss.operateur.123", False),
        ("-mss.operateur.fr", False),
        ("mss operateur.fr", False),
        ("PROXY DMP", False),
    ],
)
def test_fully_qualified_domain_names(name, ok):
    assert is_fully_qualified_domain_name(name) is ok


def test_serv_ssl_needs_an_fqdn_and_an_mssante_operator(tenant_a):
    editor = tenant_a.editor
    editor.is_mssante_operator = True
    editor.save()
    validate_request_naming(
        editor=editor,
        officine=tenant_a.officine,
        profile="SERV_SSL",
        services=["MSSANTE"],
        common_name="mss.operateur.fr",
    )
    with pytest.raises(ValidationError) as refused:
        validate_request_naming(
            editor=editor,
            officine=tenant_a.officine,
            profile="SERV_SSL",
            services=["MSSANTE"],
            common_name="Messagerie officine",
        )
    assert refused.value.error_dict["common_name"][0].code == "serv_ssl_fqdn"
    editor.is_mssante_operator = False
    editor.save()
    with pytest.raises(ValidationError) as refused:
        validate_request_naming(
            editor=editor,
            officine=tenant_a.officine,
            profile="SERV_SSL",
            services=["MSSANTE"],
            common_name="mss.operateur.fr",
        )
    assert refused.value.error_dict["profile"][0].code == "serv_ssl_operator_only"


def test_the_offer_is_serv_ssl_or_org():
    assert ans_offer("SERV_SSL") == "SERV SSL"
    assert ans_offer("ORG_AUTH_CLI") == "ORG" and ans_offer("ORG_SIGN") == "ORG"
