"""Fill a database with a realistic national-scale data set for the benchmarks (bench/).

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python manage.py seed_scale --editors 10 --officines 20000 --certificates 100000

What it writes (deterministic for given sizes, relative to the day it runs):
- `--editors` editors named "Bench Éditeur NN"; editor 01 holds `--big` officines (10,000 by
  default), the others share the rest unevenly;
- per editor: admin, operator and viewer users (`admin@editeur-01.bench.example` ...) with
  password `SCALE_PASSWORD` and TOTP secret `SCALE_TOTP_SECRET` enrolled, a few pharmacists,
  technical administrators (one per ~250 officines), an API key (read, write) made with
  `api_key_create` whose secret goes to var/bench/scale-api-keys.json, a digest subscription;
- officines spread over 25 départements (2 % inactive, 1 % in the TEST environment, 15 % in
  "pharmacien" mode), each with 3 to 5 certificate slots (INSi, DMP/PSC, signature, MSSanté,
  encryption); about 80 % of the certificates are the current one of a slot, 20 % are the
  superseded certificates they renewed (linked by `replaces`);
- expiries spread over three years: 5 % of all certificates expire within 30 days, 2 % of the
  current ones are already expired, 1 % are revoked; installations of most renewals, and the
  30-day alerts that were sent for superseded certificates (history for the dashboard).

Every certificate is a real one: issued by the demo IGC Santé PKI (certificates.demo_pki,
kept in var/bench/pki so reruns use the same CAs) over 16 shared RSA keys, signed in a
process pool (about 1.7 ms a signature: ~90 s for 100,000 on two cores). Writes are bulk
inserts in batches. Idempotent: a second run with the data present does nothing; `--reset`
deletes the bench editors (and everything they own) first.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

if TYPE_CHECKING:
    from certificates.x509 import CertificateInfo

SCALE_PREFIX = "Bench Éditeur"
SCALE_PASSWORD = "bench-scale-2026!"  # noqa: S105 (benchmark accounts on throwaway databases)
SCALE_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 (same)
ROLES = ("admin", "operator", "viewer")
KEY_COUNT = 16
SEED = 2026
BENCH_DIR = Path(settings.VAR_DIR) / "bench"
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


def _not_after_for(profile: str, usable_until: datetime) -> datetime:
    """notAfter of a certificate usable until `usable_until` (ORG SIGN: one month later)."""
    from certificates.demo_pki import add_months

    return add_months(usable_until, 1) if profile == "ORG_SIGN" else usable_until


def editor_name(index: int, prefix: str = SCALE_PREFIX) -> str:
    """Editor 1 is the big one (`--big` officines)."""
    return f"{prefix} {index:02d}"


def user_email(index: int, role: str, prefix: str = SCALE_PREFIX) -> str:
    """E-mail of a seeded user, e.g. admin@editeur-01.bench.example."""
    return f"{role}@{_domain(index, prefix)}"


def _domain(index: int, prefix: str) -> str:
    tag = "" if prefix == SCALE_PREFIX else "-" + _slug(prefix)
    return f"editeur-{index:02d}{tag}.bench.example"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def api_keys_file() -> Path:
    return BENCH_DIR / "scale-api-keys.json"


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
class _Plan:
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
    previous: _Plan | None = None


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


# --------------------------------------------------------------------------- issuing (pool)

_WORKER: dict[str, Any] = {}


def _load_keys(path: Path) -> list:
    from cryptography.hazmat.primitives import serialization

    blocks = path.read_bytes().split(b"\n\n")
    # Our own freshly generated keys: skipping the (slow, ~60 ms) RSA consistency check is safe.
    return [
        serialization.load_pem_private_key(b, password=None, unsafe_skip_rsa_key_validation=True)
        for b in blocks
        if b.strip()
    ]


def _worker_init(pki_dir: str, keys_file: str) -> None:
    from certificates.demo_pki import DemoPKI

    _WORKER["pki"] = DemoPKI.load(Path(pki_dir))
    _WORKER["keys"] = _load_keys(Path(keys_file))


def _issue_chunk(specs: list[tuple]) -> list[CertificateInfo]:
    """Sign a chunk of certificates, described the way certificate import stores them."""
    from certificates import x509 as igc

    pki, keys = _WORKER["pki"], _WORKER["keys"]
    out = []
    for finess, name, department, cn, profile, env, not_before, not_after, key in specs:
        _key, cert = pki.issue_for(
            finess=finess,
            raison_sociale=name,
            department=department,
            common_name=cn,
            profile=igc.Profile(profile),
            environment=env,
            not_before=not_before,
            not_after=not_after,
            key=keys[key],
        )
        out.append(igc.describe_certificate(cert))
    return out


def _prepare_pki(directory: Path) -> tuple[Any, Path]:
    """Demo CAs and shared keys kept in var/bench so reruns sign with the same CAs."""
    from cryptography.hazmat.primitives import serialization

    from certificates import x509 as igc
    from certificates.demo_pki import DemoPKI

    pki = DemoPKI.load_or_create(directory / "pki")
    keys_file = directory / "keys.pem"
    if not keys_file.exists() or len(_load_keys(keys_file)) < KEY_COUNT:
        keys = [igc.generate_private_key() for _ in range(KEY_COUNT)]
        keys_file.write_bytes(
            b"\n".join(
                k.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                for k in keys
            )
        )
    return pki, keys_file


# --------------------------------------------------------------------------- planning


def _plan_certificates(
    rng: random.Random, officine_count: int, total: int, now: datetime
) -> list[list[_Plan]]:
    """Certificate plans grouped by officine (current ones first, then their predecessors)."""
    from certificates.demo_pki import add_months, profile_validity
    from certificates.x509 import Profile

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
    plans: list[list[_Plan]] = []
    k = 0
    for officine, count in enumerate(slots):
        rows: list[_Plan] = []
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
            plan = _Plan(
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
                older = _Plan(
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


def _officines(rng: random.Random, spec: ScaleSpec, editors: list, administrators: dict) -> list:
    from officines import identifiers
    from officines.models import Officine

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


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def _keep_timestamps(*fields: Any) -> Iterator[None]:
    """Let bulk inserts keep the historical created_at we set (auto_now_add would override)."""
    saved = [(f, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in saved:
            f.auto_now_add = value


def _accounts(spec: ScaleSpec, editors: list, password: str) -> tuple[int, dict, dict]:
    """Users with known password and TOTP, technical administrators, API keys."""
    from allauth.mfa.totp.internal.auth import TOTP

    from notifications.models import AlertSubscription
    from officines.models import TechnicalAdministrator
    from portal.api.keys import api_key_create
    from portal.models import Membership, User

    users = 0
    administrators: dict[int, list] = {}
    raw_keys: dict[str, str] = {}
    for index, (editor, count) in enumerate(
        zip(editors, spec.officines_per_editor(), strict=True), start=1
    ):
        for role in ROLES:
            user = User.objects.create(
                email=user_email(index, role, spec.prefix),
                full_name=f"{role.title()} {editor.name}",
                password=password,
            )
            Membership.objects.create(user=user, editor=editor, role=role)
            TOTP.activate(user, SCALE_TOTP_SECRET)
            if role == "admin":
                AlertSubscription.objects.create(user=user, editor=editor)
            users += 1
        administrators[editor.pk] = TechnicalAdministrator.objects.bulk_create(
            TechnicalAdministrator(
                editor=editor,
                full_name=f"Administrateur {n + 1} {editor.name}",
                email=f"pki-{n + 1}@{_domain(index, spec.prefix)}",
                card_type="CPS" if n % 10 == 9 else "CPA",
                card_number=f"{8_000_000_000 + index * 10_000 + n}",
            )
            for n in range(max(3, count // 250))
        )
        _key, raw = api_key_create(
            editor=editor, name="LGO production (bench)", scopes=["read", "write"], actor=None
        )
        raw_keys[editor.name] = raw
    return users, administrators, raw_keys


def _habilitations(officines: list) -> None:
    """Each officine's administrator habilitated for it (one in seven still « demandée »)."""
    from officines.models import OfficineHabilitation

    OfficineHabilitation.objects.bulk_create(
        (
            OfficineHabilitation(
                editor_id=o.editor_id,
                officine_id=o.pk,
                administrator_id=o.technical_administrator_id,
                state="requested" if o.technical_administrator_id % 7 == 6 else "habilitated",
                requested_on=o.created_at.date() if o.created_at else None,
                habilitated_on=None
                if o.technical_administrator_id % 7 == 6
                else (o.created_at.date() if o.created_at else None),
            )
            for o in officines
            if o.technical_administrator_id
        ),
        batch_size=2000,
    )


def _pharmacists(spec: ScaleSpec, editors: list, officines: list, password: str) -> int:
    """A few pharmacists per editor, each seeing one or two officines in "pharmacien" mode."""
    from officines.models import PharmacistAccess
    from portal.models import User

    by_editor: dict[int, list] = {}
    for o in officines:
        if o.delegation_mode == "pharmacien":
            by_editor.setdefault(o.editor_id, []).append(o)
    created = 0
    for index, editor in enumerate(editors, start=1):
        mine = by_editor.get(editor.pk, [])[:40]
        for n in range(0, len(mine), 2):
            user = User.objects.create(
                email=f"pharmacien-{n // 2 + 1}@{_domain(index, spec.prefix)}",
                full_name=f"Pharmacien {n // 2 + 1}",
                password=password,
            )
            PharmacistAccess.objects.bulk_create(
                PharmacistAccess(user=user, officine=o) for o in mine[n : n + 2]
            )
            created += 1
    return created


def _bulk_insert(model: Any, rows: list) -> None:
    """bulk_create, or on PostgreSQL COPY with ids reserved from the sequence (faster)."""
    if connection.vendor != "postgresql" or not rows:
        model.objects.bulk_create(rows, batch_size=500)
        return
    table = model._meta.db_table
    fields = [f for f in model._meta.concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(rows)],
        )
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = pk
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
                )


def _insert_chunk(
    chunk: list[_Plan],
    officines: list,
    chains: dict[str, str],
    now: datetime,
) -> tuple[int, list, list]:
    """Insert a chunk oldest level first so `replaces` can point at the certificate renewed."""
    from certificates.models import Certificate, Installation
    from notifications.models import AlertLog

    by_level: dict[int, list[_Plan]] = {}
    for plan in chunk:
        by_level.setdefault(plan.level, []).append(plan)
    installations, alerts = [], []
    for level in sorted(by_level, reverse=True):
        plans = by_level[level]
        rows = []
        for plan in plans:
            officine = officines[plan.officine]
            info = plan.issued
            rows.append(
                Certificate(
                    editor_id=officine.editor_id,
                    officine_id=officine.pk,
                    profile=plan.profile,
                    common_name=plan.common_name,
                    services=plan.services,
                    serial=info.serial,
                    subject_dn=info.subject,
                    issuer_dn=info.issuer,
                    not_before=plan.not_before,
                    not_after=plan.not_after,
                    usable_until=info.usable_until,
                    fingerprint_sha256=info.fingerprint_sha256,
                    public_key_sha256=info.public_key_sha256,
                    environment=officine.environment,
                    chain_status="trusted_test"
                    if officine.environment == "test"
                    else "trusted_production",
                    pem=info.pem,
                    chain_pem=chains[officine.environment],
                    replaces_id=plan.previous.pk if plan.previous else None,
                    superseded_at=plan.superseded_at,
                    revoked_at=plan.revoked_at,
                    revocation_reason=plan.revocation_reason,
                    created_at=min(plan.not_before + timedelta(days=1), now),
                )
            )
        _bulk_insert(Certificate, rows)
        for plan, row in zip(plans, rows, strict=True):
            plan.pk = row.pk
            if plan.previous is not None and row.revoked_at is None and plan.key % 10:
                installed = min(plan.not_before + timedelta(days=2), now)
                installations.append(
                    Installation(
                        certificate_id=row.pk,
                        host=f"lgo-{officines[plan.officine].finess.lower()}.officine.example",
                        installed_at=installed,
                        reported_by="LGO",
                    )
                )
            alert_at = info.usable_until - timedelta(days=30)
            if plan.superseded_at is not None and alert_at < plan.superseded_at:
                alerts.append(
                    AlertLog(
                        certificate_id=row.pk,
                        threshold=30,
                        recipient=officines[plan.officine].notification_email,
                        channel="email",
                        status="sent",
                        days_left=30,
                        scan_date=timezone.localdate(alert_at),
                        created_at=alert_at,
                        sent_at=alert_at + timedelta(minutes=5),
                    )
                )
    return len(chunk), installations, alerts


def _pool(processes: int, initargs: tuple) -> Any:
    """A fork pool when available (workers only sign: no database use), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return context.Pool(processes, initializer=_worker_init, initargs=initargs)


def seed_scale(
    spec: ScaleSpec,
    *,
    processes: int | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> SeedReport:
    """Write the data set described in the module docstring; does nothing when present."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from certificates.demo_pki import to_pem_bundle
    from certificates.models import Certificate, Installation
    from notifications.models import AlertLog
    from officines.models import Officine
    from portal.models import Editor

    report = SeedReport()
    existing = Editor.objects.filter(name__startswith=spec.prefix + " ").count()
    if existing:
        report.skipped = True
        report.editors = existing
        report.officines = Officine.objects.filter(editor__name__startswith=spec.prefix).count()
        report.certificates = Certificate.objects.filter(
            editor__name__startswith=spec.prefix
        ).count()
        return report
    started = time.perf_counter()
    rng = random.Random(SEED)  # noqa: S311 (reproducible test data, not secrets)
    now = timezone.now()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    pki, keys_file = _prepare_pki(BENCH_DIR)
    chains = {env: to_pem_bundle(*pki.chain_for(env)).decode() for env in ("production", "test")}
    report.seconds["pki"] = time.perf_counter() - started

    mark = time.perf_counter()
    with transaction.atomic():
        editors = [
            Editor.objects.create(
                name=editor_name(i, spec.prefix),
                siren=f"{900_000_000 + i}",
                contact_email=f"contact@{_domain(i, spec.prefix)}",
                is_mssante_operator=i % 4 == 0,
            )
            for i in range(1, spec.editors + 1)
        ]
        # Hashed once (PBKDF2 costs ~0.5 s a call), with Django's default hasher even when
        # tests configure a faster one: the benchmark server logs in with its defaults.
        hasher = PBKDF2PasswordHasher()
        password = hasher.encode(SCALE_PASSWORD, hasher.salt())
        users, administrators, raw_keys = _accounts(spec, editors, password)
        officines = Officine.objects.bulk_create(
            _officines(rng, spec, editors, administrators), batch_size=2000
        )
        _habilitations(officines)
        users += _pharmacists(spec, editors, officines, password)
    report.seconds["accounts_officines"] = time.perf_counter() - mark
    report.editors, report.officines, report.users = len(editors), len(officines), users
    log(f"{len(editors)} editors, {len(officines)} officines, {users} users")

    mark = time.perf_counter()
    plans = _plan_certificates(rng, len(officines), spec.certificates, now)
    order = list(range(len(officines)))
    rng.shuffle(order)  # interleave editors and officines on disk, as years of imports do
    flat = [plan for index in order for plan in plans[index]]
    del plans
    chunk_size = 1000
    chunks = [flat[i : i + chunk_size] for i in range(0, len(flat), chunk_size)]
    del flat

    def specs(chunk: list[_Plan]) -> list[tuple]:
        rows = []
        for plan in chunk:
            officine = officines[plan.officine]
            rows.append(
                (
                    officine.finess,
                    officine.raison_sociale[:64],
                    officine.department_label,
                    plan.common_name,
                    plan.profile,
                    officine.environment,
                    plan.not_before,
                    plan.not_after,
                    plan.key,
                )
            )
        return rows

    processes = processes or os.cpu_count() or 1
    written = 0
    installations: list = []
    alerts: list = []
    with _keep_timestamps(
        Certificate._meta.get_field("created_at"), AlertLog._meta.get_field("created_at")
    ):
        if processes > 1 and len(chunks) > 1:
            connection.close()  # forked workers must not share the database socket
            with _pool(processes, (str(BENCH_DIR / "pki"), str(keys_file))) as pool:
                results = pool.imap(_issue_chunk, (specs(c) for c in chunks))
                for chunk, issued in zip(chunks, results, strict=True):
                    written += _write(chunk, issued, officines, chains, now, installations, alerts)
                    if written % 20_000 < chunk_size:
                        log(f"  {written} certificates")
        else:
            _worker_init(str(BENCH_DIR / "pki"), str(keys_file))
            for chunk in chunks:
                issued = _issue_chunk(specs(chunk))
                written += _write(chunk, issued, officines, chains, now, installations, alerts)
        Installation.objects.bulk_create(installations, batch_size=2000)
        AlertLog.objects.bulk_create(alerts, batch_size=2000)
    report.certificates = written
    report.seconds["certificates"] = time.perf_counter() - mark
    log(
        f"{written} certificates, {len(installations)} installations, "
        f"{len(alerts)} past alerts ({report.seconds['certificates']:.1f} s)"
    )
    _save_api_keys(raw_keys)
    from certificates.coverage import coverage_rebuild

    mark = time.perf_counter()
    for editor in editors:  # COPY sends no signal: store the coverage in one pass per editor
        coverage_rebuild(editor.pk)
    report.seconds["coverage"] = time.perf_counter() - mark
    if connection.vendor == "postgresql":
        mark = time.perf_counter()
        with connection.cursor() as cursor:  # fresh statistics and visibility map
            # VACUUM cannot run in a transaction (a caller's atomic block, a test).
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
        report.seconds["vacuum_analyze"] = time.perf_counter() - mark
    report.seconds["total"] = time.perf_counter() - started
    return report


def _write(chunk, issued, officines, chains, now, installations, alerts) -> int:
    for plan, info in zip(chunk, issued, strict=True):
        plan.issued = info
    with transaction.atomic():
        count, new_installations, new_alerts = _insert_chunk(chunk, officines, chains, now)
    installations.extend(new_installations)
    alerts.extend(new_alerts)
    for plan in chunk:  # free the PEMs as we go
        plan.issued = None
    return count


def _save_api_keys(raw_keys: dict[str, str]) -> None:
    path = api_keys_file()
    data = json.loads(path.read_text()) if path.exists() else {}
    data[str(connection.settings_dict["NAME"])] = raw_keys
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    path.chmod(0o600)


def scale_delete(prefix: str = SCALE_PREFIX) -> int:
    """Remove the bench editors of `prefix` (see `retire_editors`); returns how many."""
    from portal.models import Editor

    editors = list(
        Editor.objects.filter(name__startswith=prefix + " ").values_list("pk", flat=True)
    )
    retire_editors(editors)
    return len(editors)


def retire_editors(editor_ids: list[int]) -> None:
    """Delete what benchmark editors own (officines and their certificates, administrators,
    API keys, users); the editors themselves stay, deactivated and renamed, with their audit
    events: those are append-only (a PostgreSQL trigger refuses DELETE) and protect their
    editor. Refuses editors whose name is not a benchmark's."""
    from certificates.models import Certificate
    from officines.models import Officine, TechnicalAdministrator
    from portal.models import ApiKey, Editor, User

    if not editor_ids:
        return
    editors = list(Editor.objects.filter(pk__in=editor_ids))
    foreign = [e.name for e in editors if not e.name.lower().startswith(("bench", "retired"))]
    if foreign:
        raise CommandError(f"not a benchmark editor: {foreign[0]!r}")
    with transaction.atomic():
        user_ids = list(
            User.objects.filter(membership__editor_id__in=editor_ids).values_list("pk", flat=True)
        ) + list(
            User.objects.filter(pharmacist_links__officine__editor_id__in=editor_ids).values_list(
                "pk", flat=True
            )
        )
        # Break the self-references first so the cascade below is set-based.
        Certificate.objects.filter(editor_id__in=editor_ids).update(replaces=None)
        Officine.objects.filter(editor_id__in=editor_ids).delete()
        TechnicalAdministrator.objects.filter(editor_id__in=editor_ids).delete()
        ApiKey.objects.filter(editor_id__in=editor_ids).delete()
        User.objects.filter(pk__in=user_ids).delete()
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        for editor in editors:
            if not editor.name.startswith("retired"):
                editor.name = f"retired {stamp} {editor.name}"[:200]
            editor.is_active = False
            editor.save(update_fields=["name", "is_active"])


class Command(BaseCommand):
    help = "Fill the database with national-scale benchmark data (see bench/ and BENCHMARKS.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--editors", type=int, default=10)
        parser.add_argument("--officines", type=int, default=20_000)
        parser.add_argument("--certificates", type=int, default=100_000)
        parser.add_argument(
            "--big", type=int, default=None, help="officines of editor 1 (default 10,000)"
        )
        parser.add_argument("--prefix", default=SCALE_PREFIX, help="editor name prefix")
        parser.add_argument("--processes", type=int, default=None, help="signing processes")
        parser.add_argument(
            "--reset", action="store_true", help="delete the editors of this prefix first"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["editors"] < 1 or options["officines"] < 0 or options["certificates"] < 0:
            raise CommandError("Sizes must be positive (at least one editor).")
        spec = ScaleSpec(
            editors=options["editors"],
            officines=options["officines"],
            certificates=options["certificates"],
            big=options["big"],
            prefix=options["prefix"],
        )
        if options["reset"]:
            started = time.perf_counter()
            deleted = scale_delete(spec.prefix)
            self.stdout.write(
                f"Deleted {deleted} bench editors ({time.perf_counter() - started:.1f} s)."
            )
        report = seed_scale(spec, processes=options["processes"], log=self.stdout.write)
        if report.skipped:
            self.stdout.write(
                f"Bench data already present ({report.editors} editors, {report.officines} "
                f"officines, {report.certificates} certificates): nothing done. "
                "Use --reset to rebuild it."
            )
            return
        self.stdout.write(json.dumps(report.as_dict()))
        self.stdout.write(
            f"Logins: {user_email(1, 'admin', spec.prefix)} (and operator@, viewer@), password "
            f"{SCALE_PASSWORD!r}, TOTP secret {SCALE_TOTP_SECRET}; API keys in {api_keys_file()}"
        )
