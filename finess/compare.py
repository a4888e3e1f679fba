"""Comparing an officine's details with its FINESS établissement (pure functions, no query).

Names and addresses are compared after normalisation (case, accents, punctuation, street-type
abbreviations of the extract: "R" = "RUE", "AV" = "AVENUE"...), so only real changes show.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from finess.formats import PHARMACIE_OFFICINE

OK = "ok"
MISSING = "missing"  # vanished from the referential (or never in it)
CLOSED = "closed"
CHANGED = "changed"

STREET_TYPES = {
    "R": "RUE",
    "AV": "AVENUE",
    "AVE": "AVENUE",
    "BD": "BOULEVARD",
    "BLD": "BOULEVARD",
    "PL": "PLACE",
    "CHE": "CHEMIN",
    "CH": "CHEMIN",
    "RTE": "ROUTE",
    "IMP": "IMPASSE",
    "ALL": "ALLEE",
    "QU": "QUAI",
    "QUA": "QUAI",
    "CRS": "COURS",
    "FG": "FAUBOURG",
    "FBG": "FAUBOURG",
    "SQ": "SQUARE",
    "PAS": "PASSAGE",
    "PASS": "PASSAGE",
    "RPT": "ROND POINT",
    "RES": "RESIDENCE",
    "PRV": "PARVIS",
    "PROM": "PROMENADE",
    "ESP": "ESPLANADE",
    "HAM": "HAMEAU",
    "LD": "LIEU DIT",
    "ZA": "ZONE ARTISANALE",
    "ZI": "ZONE INDUSTRIELLE",
    "CC": "CENTRE COMMERCIAL",
    "CCAL": "CENTRE COMMERCIAL",
    "BIS": "B",
    "TER": "T",
    "ST": "SAINT",
    "STE": "SAINTE",
}
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Upper case, no accents, no punctuation, single spaces, abbreviations spelled out."""
    text = (text or "").upper()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = _NON_ALNUM.sub(" ", text).split()
    return " ".join([STREET_TYPES.get(word, word) for word in words])


@dataclass(frozen=True)
class Snapshot:
    """The officine details compared (from the editor's data)."""

    finess: str
    raison_sociale: str
    address: str
    postal_code: str
    city: str


@dataclass(frozen=True)
class Difference:
    field: str  # "missing", "closed", "raison_sociale", "address", "postal_code", "category"
    officine: str
    referential: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(snapshot: Snapshot, etab: Any | None) -> tuple[str, list[Difference]]:
    """(status, differences) of one officine against its établissement (None: absent)."""
    if etab is None:
        return MISSING, [Difference("missing", snapshot.finess, "")]
    differences: list[Difference] = []
    status = CHANGED
    if not etab.is_open:
        status = CLOSED
        closed = etab.closed_on.isoformat() if etab.closed_on else ""
        differences.append(Difference("closed", "", closed))
    name = snapshot.raison_sociale
    if (
        name
        and name != etab.raison_sociale
        and normalize(name) != normalize(etab.raison_sociale)
        and normalize(name) != normalize(etab.raison_sociale_longue)
    ):
        differences.append(
            Difference("raison_sociale", snapshot.raison_sociale, etab.raison_sociale)
        )
    if snapshot.address and etab.address and normalize(snapshot.address) != normalize(etab.address):
        differences.append(Difference("address", snapshot.address, etab.address))
    if (
        snapshot.postal_code
        and etab.postal_code
        and snapshot.postal_code.strip() != etab.postal_code.strip()
    ):
        differences.append(Difference("postal_code", snapshot.postal_code, etab.postal_code))
    if etab.category != PHARMACIE_OFFICINE:
        differences.append(
            Difference("category", PHARMACIE_OFFICINE, f"{etab.category} {etab.category_label}")
        )
    if not differences:
        return OK, []
    return status, differences
