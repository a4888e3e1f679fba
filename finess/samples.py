"""Builds FINESS files in the published layouts, for the demo data, the tests and the bench."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from finess.formats import PHARMACIE_OFFICINE

CATEGORY_LABELS = {
    PHARMACIE_OFFICINE: "Pharmacie d'Officine",
    "355": "Centre Hospitalier (C.H.)",
    "500": "Etablissement d'hébergement pour personnes âgées dépendantes",
    "611": "Laboratoire d'Analyses",
    "124": "Centre de Santé",
}
AGGREGATES = {
    PHARMACIE_OFFICINE: ("3401", "Pharmacies d'Officine"),
    "355": ("1102", "Centres Hospitaliers"),
    "500": ("4401", "Etablissements et Services pour Personnes Agées"),
    "611": ("2204", "Laboratoires d'Analyses"),
    "124": ("2206", "Centres de Santé"),
}
STREET_TYPES = {"rue": "R", "avenue": "AV", "boulevard": "BD", "place": "PL", "route": "RTE"}


@dataclass
class Site:
    """An établissement to write in a sample file."""

    finess: str
    juridique: str
    name: str
    number: str = "1"
    street_type: str = "R"
    street: str = "DE LA REPUBLIQUE"
    postal_code: str = "69003"
    city: str = "LYON"
    department: str = "69"
    department_name: str = "RHONE"
    category: str = PHARMACIE_OFFICINE
    is_open: bool = True
    long_name: str = ""
    opened_on: date = date(2001, 3, 1)
    closed_on: date | None = None
    extra: dict = field(default_factory=dict)


def structureet_line(site: Site) -> str:
    aggregate, aggregate_label = AGGREGATES.get(site.category, ("9999", "Autres"))
    cells = [
        "structureet",
        site.finess,
        site.juridique,
        site.name,
        site.long_name or site.name,
        "",
        "",
        site.number,
        site.street_type,
        site.street,
        "",
        "",
        "123",
        site.department,
        site.department_name,
        f"{site.postal_code} {site.city}",
        "0478000000",
        "",
        site.category,
        CATEGORY_LABELS.get(site.category, "Autre catégorie"),
        aggregate,
        aggregate_label,
        "",
        "4773Z",
        "01",
        "Indéterminé",
        "9",
        "Non concerné",
        site.opened_on.isoformat(),
        site.opened_on.isoformat(),
        "2025-11-04",
        "",
    ]
    return ";".join(cells)


def csv_lines(sites: Iterable[Site], *, extracted: date, geolocated: bool = True) -> Iterator[str]:
    """Lines of the historical extract: header, `structureet` lines, `geolocalisation` lines.

    Closed sites are left out, as in the published extract (it lists open établissements).
    """
    yield f"finess;etalab;111;{extracted.isoformat()}"
    open_sites = [s for s in sites if s.is_open]
    for site in open_sites:
        yield structureet_line(site)
    if geolocated:
        for n, site in enumerate(open_sites):
            yield (
                f"geolocalisation;{site.finess};{840000 + n % 1000}.5;{6500000 + n % 1000}.2;"
                f"1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93;{extracted.isoformat()}"
            )


def csv_bytes(
    sites: Iterable[Site], *, extracted: date, encoding: str = "cp1252", geolocated: bool = True
) -> bytes:
    text = "\n".join(csv_lines(sites, extracted=extracted, geolocated=geolocated)) + "\n"
    return text.encode(encoding)


def _ege(site: Site, n: int) -> dict:
    info = {
        "egeId": str(1000 + n),
        "dateOuverture": site.opened_on.isoformat(),
        "datePremiereAutorisation": site.opened_on.isoformat(),
        "nomEgeCourt": site.name,
        "nomEgeLong": site.long_name or site.name,
        "numFinessEge": site.finess,
    }
    if site.closed_on:
        info["dateFermeture"] = site.closed_on.isoformat()
    return {
        "informationsGeneralesEGE": info,
        "categorieentiteGeographiqueExercice": site.category,
        "adresse": [
            {
                "usageAdresse": "03",
                "numeroVoie": site.number,
                "typeVoie": site.street_type,
                "libelleVoie": site.street,
                "cogCommune": f"{site.department}123"[:5],
                "ligneAcheminement": site.city,
                "codePostal": site.postal_code,
            }
        ],
        "contact": [],
        "engagement": [],
        "evenement": [],
        "roleEge": [],
        "etatObjet": "A" if site.is_open else "I",
        "dateDerniereMaj": "2025-11-04 00:00:00",
    }


def json_document(sites: Iterable[Site], *, generated: str) -> dict:
    """A FiNESS+ « structures » document: one PM-EJ per FINESS juridique, its EGE under it."""
    by_juridique: dict[str, list[Site]] = {}
    for site in sites:
        by_juridique.setdefault(site.juridique, []).append(site)
    pmej = []
    for n, (juridique, members) in enumerate(by_juridique.items()):
        first = members[0]
        pmej.append(
            {
                "informationsGeneralesPMEJ": {
                    "pmSmsseId": str(n + 1),
                    "dateCreation": "2001-01-01",
                    "denominationLonguePmSmsse": f"SELARL {first.name}",
                    "denominationPm": f"SELARL {first.name}",
                    "numFinessPm": juridique,
                    "statutJuridique": "73",
                    "typePersonneMorale": "01",
                },
                "adresse": [{"cogCommune": f"{first.department}123"[:5], "codePostal": "69003"}],
                "evenement": [],
                "ege": [_ege(site, i) for i, site in enumerate(members)],
                "etatObjet": "A",
                "dateDerniereMaj": "2025-11-04 00:00:00",
            }
        )
    return {"schemaVersion": "v1.0.0", "generatedAt": generated, "gcc": [], "gco": [], "pmej": pmej}


def json_bytes(sites: Iterable[Site], *, generated: str = "2026-03-09T15:49:37Z") -> bytes:
    return json.dumps(json_document(sites, generated=generated), ensure_ascii=False).encode()
