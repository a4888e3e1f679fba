"""What a PSC identity says, read from its claims: RPPS, and the structures it works in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from officines.identifiers import IdentifierError, normalize_finess, validate_rpps

# SubjectNameID of a professional known to the RPPS: "8" + the 11-digit RPPS number.
RPPS_PREFIX = "8"
# Fields of a SubjectRefPro activity that name the structure where the professional works.
STRUCTURE_FIELDS = (
    "numeroFinessSite",
    "identifiantTechniqueDeLaStructure",
    "ancienIdentifiantDeLaStructure",
)


@dataclass(frozen=True)
class PscIdentity:
    subject_name_id: str
    rpps: str | None
    given_name: str
    family_name: str
    structures: frozenset[str]  # FINESS numbers and structure identifiers, as PSC gives them

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p)


def rpps_of(subject_name_id: str) -> str | None:
    """The RPPS inside a national identifier ("8" + RPPS, or the bare RPPS), else None
    (ADELI-based and test identifiers carry none)."""
    value = (subject_name_id or "").strip()
    if len(value) == 12 and value.startswith(RPPS_PREFIX):
        value = value[1:]
    try:
        return validate_rpps(value)
    except IdentifierError:
        return None


def structures_of(ref_pro: Any) -> frozenset[str]:
    found: set[str] = set()
    exercices = ref_pro.get("exercices", []) if isinstance(ref_pro, Mapping) else []
    for exercice in exercices if isinstance(exercices, list) else []:
        activities = exercice.get("activities", []) if isinstance(exercice, Mapping) else []
        for activity in activities if isinstance(activities, list) else []:
            if not isinstance(activity, Mapping):
                continue
            for field in STRUCTURE_FIELDS:
                value = activity.get(field)
                if isinstance(value, str) and value.strip():
                    found.add(normalize_finess(value.strip()))
    return frozenset(found)


def identity_from_claims(claims: Mapping[str, Any]) -> PscIdentity:
    subject = str(claims.get("SubjectNameID") or "")
    return PscIdentity(
        subject_name_id=subject,
        rpps=rpps_of(subject),
        given_name=str(claims.get("given_name") or ""),
        family_name=str(claims.get("family_name") or ""),
        structures=structures_of(claims.get("SubjectRefPro")),
    )
