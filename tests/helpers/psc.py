"""Pro Santé Connect test helpers: people of the local provider and the login round trip."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from django.test import Client
from django.urls import reverse

from officines.identifiers import luhn_check_digit

PASSWORD = "code-cps-1234"


def rpps(serial: int) -> str:
    payload = f"1000{serial:06d}"
    return payload + luhn_check_digit(payload)


RPPS_PHARMACIST = rpps(1)
RPPS_INVITED = rpps(2)
RPPS_UNKNOWN = rpps(3)
RPPS_STAFF = rpps(4)


def person(rpps_number: str, finess: list[str], **extra) -> dict:
    return {
        "password": PASSWORD,
        "SubjectNameID": "8" + rpps_number,
        "given_name": "Claire",
        "family_name": "Martin",
        "SubjectRefPro": {
            "exercices": [
                {
                    "codeProfession": "21",
                    "activities": [
                        {"numeroFinessSite": f, "identifiantTechniqueDeLaStructure": "1" + f}
                        for f in finess
                    ],
                }
            ]
        },
        **extra,
    }


def start(client: Client, **params) -> str:
    response = client.post(reverse("psc_login"), params)
    assert response.status_code == 302, response.content[:300]
    location = response["Location"]
    query = parse_qs(urlparse(location).query)
    assert query["response_type"] == ["code"]
    assert query["nonce"][0] and query["state"][0]
    assert query["code_challenge_method"] == ["S256"]  # PKCE
    assert "scope_all" in query["scope"][0].split()
    return location


def finish(client: Client, back: str):
    parsed = urlparse(back)
    assert parsed.path == reverse("psc_callback"), back
    return client.get(parsed.path + "?" + parsed.query)


def psc_login(client: Client, provider, username: str):
    return finish(client, provider.authorize(start(client), username))
