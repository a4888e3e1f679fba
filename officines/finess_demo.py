"""Demo FINESS extract for `make run`: the demo officines as FINESS knows them, one closed and
one renamed since, so the « à vérifier (FINESS) » flags show at first start."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.conf import settings

from finess.models import Refresh
from finess.samples import Site, json_bytes
from finess.services import referential_import
from officines import identifiers
from officines.models import Officine

DEMO_FILE = "complet-finess-structures-demo.json"
CLOSED_INDEX = 7
RENAMED_INDEX = 3


def demo_sites(officines: list[Officine]) -> list[Site]:
    sites = []
    for index, officine in enumerate(officines):
        number, _sep, street = officine.address.partition(" ")
        if not number.isdigit():
            number, street = "", officine.address
        site = Site(
            finess=officine.finess,
            juridique=officine.finess_juridique,
            name=officine.raison_sociale,
            number=number,
            street_type="",
            street=street.upper(),
            postal_code=officine.postal_code,
            city=officine.city.upper(),
            department=officine.department,
            department_name=identifiers.DEPARTMENTS.get(officine.department, "").upper(),
        )
        if index == CLOSED_INDEX:
            site.is_open = False
            site.closed_on = date(2026, 10, 31)
        if index == RENAMED_INDEX:
            site.name = f"PHARMACIE NOUVELLE {officine.city.upper()}"
        sites.append(site)
    # Another category and a juridique under which two officines run, to try the rules.
    sites.append(
        Site(
            identifiers.generate_finess("69", 9001),
            identifiers.generate_finess("69", 9501),
            "CENTRE HOSPITALIER DEMO",
            category="355",
        )
    )
    return sites


def seed_finess(officines: list[Officine]) -> Refresh:
    """Write the demo extract in FINESS_DROP_DIR and load it (comparison included)."""
    folder = Path(settings.FINESS_DROP_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEMO_FILE
    path.write_bytes(json_bytes(demo_sites(officines), generated="2026-11-02T03:00:00Z"))
    refresh = referential_import(source=str(path))
    refresh.refresh_from_db()
    return refresh
