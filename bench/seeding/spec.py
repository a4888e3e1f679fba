"""What the scale data set holds: its sizes and names, the places and certificate shapes it draws from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SCALE_PREFIX = "Bench Éditeur"
SCALE_PASSWORD = "bench-scale-2026!"  # noqa: S105 (benchmark accounts on throwaway databases)
SCALE_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 (same)
ROLES = ("admin", "operator", "viewer")
KEY_COUNT = 16
SEED = 2026
EXPIRING_SHARE = 0.05  # of all certificates: live and expiring within 30 days
EXPIRED_SHARE = 0.02  # of current certificates: live and already expired
REVOKED_SHARE = 0.01  # of current certificates
SUPERSEDED_SHARE = 0.20  # of all certificates: renewed ones


# (département, city, postal code prefix), weighted by their rough number of officines.
PLACES = [
    ("75", "Paris", "750", 9),
    ("13", "Marseille", "130", 6),
    ("69", "Lyon", "690", 6),
    ("59", "Lille", "590", 6),
    ("33", "Bordeaux", "330", 4),
    ("31", "Toulouse", "310", 4),
    ("44", "Nantes", "440", 3),
    ("06", "Nice", "060", 3),
    ("67", "Strasbourg", "670", 3),
    ("34", "Montpellier", "340", 3),
    ("35", "Rennes", "350", 2),
    ("76", "Rouen", "760", 3),
    ("62", "Arras", "620", 3),
    ("38", "Grenoble", "380", 3),
    ("57", "Metz", "570", 2),
    ("63", "Clermont-Ferrand", "630", 2),
    ("21", "Dijon", "210", 1),
    ("29", "Brest", "290", 2),
    ("87", "Limoges", "870", 1),
    ("45", "Orléans", "450", 1),
    ("2A", "Ajaccio", "200", 1),
    ("2B", "Bastia", "202", 1),
    ("971", "Pointe-à-Pitre", "971", 1),
    ("972", "Fort-de-France", "972", 1),
    ("974", "Saint-Denis", "974", 1),
]


NAMES = [
    "DU CENTRE",
    "DE LA GARE",
    "DES HALLES",
    "DU MARCHÉ",
    "DE L'ÉGLISE",
    "DU PORT",
    "DES ÉCOLES",
    "DE LA MAIRIE",
    "SAINT-JEAN",
    "DU PARC",
    "DE LA POSTE",
    "DU LAC",
    "DES ARCADES",
    "PASTEUR",
    "VICTOR HUGO",
    "DE LA RÉPUBLIQUE",
    "DU VIEUX PORT",
    "DES TILLEULS",
]


STREETS = ["rue de la République", "avenue Jean Jaurès", "place du Marché", "rue Pasteur"]


# (profile, common name, services) of the certificate slots of an officine.
SHAPES = [
    ("ORG_AUTH_CLI", "INSI-AUTO", ["INSI"]),
    ("ORG_AUTH_CLI", "LGO", ["DMP", "PSC"]),
    ("ORG_SIGN", "LGO-SIGNATURE", ["DMP"]),
    ("ORG_AUTH_CLI", "MSSANTE", ["MSSANTE"]),
    ("ORG_CONF", "LGO-CHIFFREMENT", []),
]


REVOCATION_REASONS = ["key_compromise", "cessation", "data_change", "other"]


def editor_name(index: int, prefix: str = SCALE_PREFIX) -> str:
    """Editor 1 is the big one (`--big` officines)."""
    return f"{prefix} {index:02d}"


def user_email(index: int, role: str, prefix: str = SCALE_PREFIX) -> str:
    """E-mail of a seeded user, e.g. admin@editeur-01.bench.example."""
    return f"{role}@{domain(index, prefix)}"


def domain(index: int, prefix: str) -> str:
    tag = "" if prefix == SCALE_PREFIX else "-" + _slug(prefix)
    return f"editeur-{index:02d}{tag}.bench.example"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


@dataclass(frozen=True)
class ScaleSpec:
    editors: int = 10
    officines: int = 20_000
    certificates: int = 100_000
    big: int | None = None  # officines of editor 1; default min(10,000, officines / 2)
    prefix: str = SCALE_PREFIX

    @property
    def big_officines(self) -> int:
        if self.editors <= 1:
            return self.officines
        big = self.big if self.big is not None else min(10_000, self.officines // 2)
        return max(0, min(big, self.officines))

    def officines_per_editor(self) -> list[int]:
        """Editor 1 gets `big_officines`; the others share the rest, larger ones first."""
        counts = [self.big_officines]
        rest, others = self.officines - counts[0], self.editors - 1
        weights = [1 / (k + 1) ** 0.5 for k in range(others)]
        total = sum(weights)
        shares = [math.floor(rest * w / total) for w in weights]
        for k in range(rest - sum(shares)):
            shares[k % max(others, 1)] += 1
        return counts + shares


@dataclass
class SeedReport:
    editors: int = 0
    officines: int = 0
    certificates: int = 0
    users: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "editors": self.editors,
            "officines": self.officines,
            "certificates": self.certificates,
            "users": self.users,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "skipped": self.skipped,
        }
