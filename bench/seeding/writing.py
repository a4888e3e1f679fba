"""Write the seeded rows in bulk: accounts, officines habilitations, certificates (COPY on PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from allauth.mfa.totp.internal.auth import TOTP
from django.db import connection, transaction
from django.utils import timezone

from bench.seeding.planning import Plan
from bench.seeding.spec import (
    ROLES,
    SCALE_TOTP_SECRET,
    ScaleSpec,
    domain,
    user_email,
)
from certificates.models import Certificate, Installation
from notifications.models import AlertLog, AlertSubscription
from officines.models import OfficineHabilitation, PharmacistAccess, TechnicalAdministrator
from portal.api.keys import api_key_create
from portal.models import Membership, User


@contextlib.contextmanager
def keep_timestamps(*fields: Any) -> Iterator[None]:
    """Let bulk inserts keep the historical created_at we set (auto_now_add would override)."""
    saved = [(f, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in saved:
            f.auto_now_add = value


def create_accounts(spec: ScaleSpec, editors: list, password: str) -> tuple[int, dict, dict]:
    """Users with known password and TOTP, technical administrators, API keys."""
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
                email=f"pki-{n + 1}@{domain(index, spec.prefix)}",
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


def create_habilitations(officines: list) -> None:
    """Each officine's administrator habilitated for it (one in seven still « demandée »)."""
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


def create_pharmacists(spec: ScaleSpec, editors: list, officines: list, password: str) -> int:
    """A few pharmacists per editor, each seeing one or two officines in "pharmacien" mode."""
    by_editor: dict[int, list] = {}
    for o in officines:
        if o.delegation_mode == "pharmacien":
            by_editor.setdefault(o.editor_id, []).append(o)
    created = 0
    for index, editor in enumerate(editors, start=1):
        mine = by_editor.get(editor.pk, [])[:40]
        for n in range(0, len(mine), 2):
            user = User.objects.create(
                email=f"pharmacien-{n // 2 + 1}@{domain(index, spec.prefix)}",
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
    chunk: list[Plan],
    officines: list,
    chains: dict[str, str],
    now: datetime,
) -> tuple[int, list, list]:
    """Insert a chunk oldest level first so `replaces` can point at the certificate renewed."""
    by_level: dict[int, list[Plan]] = {}
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


def write_chunk(chunk, issued, officines, chains, now, installations, alerts) -> int:
    for plan, info in zip(chunk, issued, strict=True):
        plan.issued = info
    with transaction.atomic():
        count, new_installations, new_alerts = _insert_chunk(chunk, officines, chains, now)
    installations.extend(new_installations)
    alerts.extend(new_alerts)
    for plan in chunk:  # free the PEMs as we go
        plan.issued = None
    return count


def save_api_keys(raw_keys: dict[str, str], path: Path) -> None:
    """Store the runs' raw API keys by database name, readable by their owner only."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data[str(connection.settings_dict["NAME"])] = raw_keys
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    path.chmod(0o600)
