"""Plan the seeded officines and certificates: places, slots, expiries, renewals, revocations."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.management.base import CommandError

from bench.seeding.spec import (
    EXPIRED_SHARE,
    EXPIRING_SHARE,
    KEY_COUNT,
    NAMES,
    PLACES,
    REVOCATION_REASONS,
    REVOKED_SHARE,
    SHAPES,
    STREETS,
    SUPERSEDED_SHARE,
    ScaleSpec,
)
from certificates.demo_pki import add_months, profile_validity
from certificates.x509 import Profile
from officines import identifiers
from officines.models import Officine

if TYPE_CHECKING:
    from certificates.x509 import CertificateInfo


def _not_after_for(profile: str, usable_until: datetime) -> datetime:
    """notAfter of a certificate usable until `usable_until` (ORG SIGN: one month later)."""
    return add_months(usable_until, 1) if profile == "ORG_SIGN" else usable_until


@dataclass
class Plan:
    """One certificate to issue and insert."""

    officine: int  # index in the officine list
    slot: int
    profile: str
    common_name: str
    services: list[str]
    not_before: datetime
    not_after: datetime
    key: int
    level: int  # 0 = current certificate of its slot, 1 = the one it replaced, ...
    superseded_at: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str = ""
    issued: CertificateInfo | None = None
    pk: int | None = None
    previous: Plan | None = None


def plan_certificates(
    rng: random.Random, officine_count: int, total: int, now: datetime
) -> list[list[Plan]]:
    """Certificate plans grouped by officine (current ones first, then their predecessors)."""
    predecessors = round(total * SUPERSEDED_SHARE)
    current = total - predecessors
    if officine_count == 0 or current <= 0:
        return [[] for _ in range(officine_count)]
    weights = [rng.choice((3, 4, 4, 5)) for _ in range(officine_count)]
    weight_sum, running, slots = sum(weights), 0, []
    for w in weights:  # exactly `current` slots, proportional to the weights
        before = running * current // weight_sum
        running += w
        slots.append(running * current // weight_sum - before)
    expiring = min(current, round(total * EXPIRING_SHARE))
    expired = min(current - expiring, round(current * EXPIRED_SHARE))
    revoked = min(current - expiring - expired, round(current * REVOKED_SHARE))
    chosen = rng.sample(range(current), expiring + expired + revoked)
    kind = dict.fromkeys(chosen[:expiring], "expiring")
    kind.update(dict.fromkeys(chosen[expiring : expiring + expired], "expired"))
    kind.update(dict.fromkeys(chosen[expiring + expired :], "revoked"))
    day = timedelta(days=1)
    plans: list[list[Plan]] = []
    k = 0
    for officine, count in enumerate(slots):
        rows: list[Plan] = []
        for slot in range(count):
            profile, cn, services = SHAPES[slot % len(SHAPES)]
            if slot >= len(SHAPES):
                cn = f"{cn}-{slot // len(SHAPES) + 1}"
            months = profile_validity(Profile(profile))
            state = kind.get(k, "valid")
            if state == "expiring":
                not_after = now + timedelta(seconds=rng.uniform(3600, 30 * 86400 - 3600))
            elif state == "expired":
                not_after = now - rng.uniform(1, 120) * day
            else:
                not_after = now + rng.uniform(30.1, 3 * 365) * day
            # The state is of the certificate's usable life: an ORG SIGN's notAfter comes a
            # month after the end of its key usage (like the real ones, demo_pki).
            not_after = _not_after_for(profile, not_after)
            plan = Plan(
                officine=officine,
                slot=slot,
                profile=profile,
                common_name=cn,
                services=services,
                not_before=add_months(not_after, -months),
                not_after=not_after,
                key=rng.randrange(KEY_COUNT),
                level=0,
            )
            if state == "revoked":
                plan.revoked_at = max(plan.not_before, now - rng.uniform(1, 300) * day)
                plan.revocation_reason = rng.choice(REVOCATION_REASONS)
            rows.append(plan)
            # Exactly `predecessors` renewals in all, spread evenly over the slots.
            newer = plan
            for level in range(
                1, (k + 1) * predecessors // current - k * predecessors // current + 1
            ):
                older_after = _not_after_for(profile, newer.not_before + rng.uniform(1, 45) * day)
                superseded = newer.not_before + rng.uniform(0.1, 10) * day
                older = Plan(
                    officine=officine,
                    slot=slot,
                    profile=profile,
                    common_name=cn,
                    services=services,
                    not_before=add_months(older_after, -months),
                    not_after=older_after,
                    key=rng.randrange(KEY_COUNT),
                    level=level,
                    superseded_at=min(superseded, older_after, now - timedelta(minutes=1)),
                )
                newer.previous = older
                rows.append(older)
                newer = older
            k += 1
        plans.append(rows)
    return plans


def plan_officines(
    rng: random.Random, spec: ScaleSpec, editors: list, administrators: dict
) -> list:
    weights = [p[3] for p in PLACES]
    counters: dict[str, int] = {}
    rows = []
    for editor, count in zip(editors, spec.officines_per_editor(), strict=True):
        admins = administrators[editor.pk]
        for _ in range(count):
            department, city, postal, _w = rng.choices(PLACES, weights)[0]
            serial = counters.get(department, 1000)
            counters[department] = serial + 1
            width = 8 - len(department)
            half = 10**width // 2
            if serial >= half:
                raise CommandError(f"too many officines in département {department}")
            finess = identifiers.generate_finess(department, serial)
            pharmacist_mode = rng.random() < 0.15
            name = f"PHARMACIE {rng.choice(NAMES)} {city.upper()}"
            rows.append(
                Officine(
                    editor=editor,
                    finess=finess,
                    finess_juridique=identifiers.generate_finess(department, serial + half),
                    raison_sociale=name[:200],
                    address=f"{rng.randint(1, 180)} {rng.choice(STREETS)}",
                    postal_code=(postal + f"{rng.randint(0, 99):02d}")[:5],
                    city=city,
                    department=department,
                    environment="test" if rng.random() < 0.01 else "production",
                    delegation_mode="pharmacien" if pharmacist_mode else "editeur",
                    technical_administrator=rng.choice(admins) if rng.random() < 0.95 else None,
                    notification_email=f"contact.{finess.lower()}@officine.example",
                    cc_email=f"titulaire.{finess.lower()}@officine.example"
                    if rng.random() < 0.25
                    else "",
                    is_active=rng.random() >= 0.02,
                )
            )
    return rows
