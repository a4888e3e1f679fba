"""The restore drill: prove a PostgreSQL backup restores into something the portal can use.

`pg_dump` the configured database (custom format, as docs/OPERATIONS.md prescribes),
`pg_restore` it into a fresh database, then check the copy: every table has as many rows as
the source, every audit event is there unchanged, and every encrypted secret (private keys,
webhook signing secrets) opens with the configured KEY_ENCRYPTION_KEYS. One secret that no
longer opens fails the drill, naming the row (never the secret).

Run by `manage.py restore_drill` (and `.ci/run`, on a seeded scratch database).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connection, connections
from django.db.utils import load_backend

from certificates import keystore, x509
from notifications.webhooks.secrets import secret_associated_data
from portal import sealing
from portal.api.idempotency import _stored_body
from portal.mfa_secrets import map_secrets, unseal

DRILL_ALIAS = "restore_drill"


class DrillError(Exception):
    """The drill could not run (no PostgreSQL, no pg_dump) or the copy is not usable."""


@dataclass
class DrillReport:
    source: str
    target: str
    dump_bytes: int = 0
    tables: int = 0
    rows: int = 0
    audit_events: int = 0
    opened: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


# --------------------------------------------------------------------------- PostgreSQL


def _libpq_env(settings_dict: dict[str, Any]) -> dict[str, str]:
    """Connection parameters for pg_dump/pg_restore through libpq's environment (the
    password never appears on a command line)."""
    env = dict(os.environ)
    for key, variable in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if settings_dict.get(key):
            env[variable] = str(settings_dict[key])
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise DrillError(f"{name} is not installed (apt-get install postgresql-client)")
    return path


def _admin_execute(sql: str) -> None:
    """CREATE/DROP DATABASE outside any transaction, through the default server."""
    with connection._nodb_cursor() as cursor:
        cursor.execute(sql)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dump(settings_dict: dict[str, Any], path: Path) -> None:
    subprocess.run(  # noqa: S603 (fixed tool path, our own arguments)
        [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(path),
         "--dbname", settings_dict["NAME"]],
        env=_libpq_env(settings_dict), check=True, capture_output=True, text=True,
    )  # fmt: skip


def restore(settings_dict: dict[str, Any], path: Path, target: str) -> None:
    _admin_execute(f"DROP DATABASE IF EXISTS {_quote(target)}")
    _admin_execute(f"CREATE DATABASE {_quote(target)}")
    subprocess.run(  # noqa: S603 (fixed tool path, our own arguments)
        [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", target, str(path)],
        env=_libpq_env(settings_dict), check=True, capture_output=True, text=True,
    )  # fmt: skip


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class SealedColumn:
    """A column holding an AES-GCM envelope bound to its row: how to find and open it."""

    label: str
    model: str  # "app_label.Model"
    column: str
    opener: Callable[[Any, Any], None]  # raises when the stored value does not open
    only: dict[str, Any] = field(default_factory=dict)  # rows holding a sealed value


def _open_private_key(row: Any, envelope: Any) -> None:

    envelope = bytes(envelope)
    der = sealing.unseal(
        envelope,
        associated_data=keystore.associated_data_for(row.pk),
        keys=sealing.wrapping_keys(),
    )
    key = x509.load_private_key_der(der)
    if row.public_key_sha256 and x509.public_key_sha256(key.public_key()) != (
        row.public_key_sha256
    ):
        raise sealing.TamperedKeyError("the private key does not match its public key hash")


def _open_webhook_secret(row: Any, envelope: Any) -> None:

    sealing.unseal(
        bytes(envelope),
        associated_data=secret_associated_data(row.pk),
        keys=sealing.wrapping_keys(),
    )


def _open_mfa_secrets(row: Any, data: Any) -> None:

    map_secrets(data or {}, unseal)


def _open_idempotent_reply(row: Any, body: Any) -> None:

    _stored_body(row)


SEALED_COLUMNS: list[SealedColumn] = [
    SealedColumn(
        "private keys",
        "certificates.CertificateRequest",
        "encrypted_private_key",
        _open_private_key,
    ),
    SealedColumn(
        "webhook secrets", "notifications.WebhookEndpoint", "secret_envelope", _open_webhook_secret
    ),
    # allauth's TOTP secrets and recovery seeds (portal.mfa_secrets).
    SealedColumn("MFA secrets", "mfa.Authenticator", "data", _open_mfa_secrets),
    # API answers kept for Idempotency-Key replays that hold a secret (sealed: prefix).
    SealedColumn(
        "sealed API replies",
        "portal.IdempotencyRecord",
        "body",
        _open_idempotent_reply,
        only={"body__startswith": "sealed:"},
    ),
]


def _sealed_rows(column: SealedColumn, alias: str) -> Iterator[tuple[Any, Any]]:
    model = apps.get_model(column.model)
    queryset = (
        model._base_manager.using(alias)
        .filter(**column.only)
        .exclude(**{f"{column.column}__isnull": True})
        .order_by("pk")
    )
    for row in queryset.iterator(chunk_size=500):
        value = getattr(row, column.column)
        if value:
            yield row, value


def check_sealed(report: DrillReport, alias: str = DRILL_ALIAS) -> None:
    """Open every sealed secret of the database `alias` (the restored copy by default; the
    migration check passes "default")."""
    for column in SEALED_COLUMNS:
        opened = 0
        for row, envelope in _sealed_rows(column, alias):
            try:
                column.opener(row, envelope)
            except Exception as exc:
                code = getattr(exc, "code", type(exc).__name__)
                report.failures.append(
                    f"{column.model} #{row.pk}: {column.column} does not open ({code})"
                )
            else:
                opened += 1
        report.opened[column.label] = opened


def _table_counts(alias: str) -> dict[str, int]:
    conn = connections[alias]
    with conn.cursor() as cursor:
        tables = sorted(conn.introspection.table_names(cursor))
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {conn.ops.quote_name(table)}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


AUDIT_DIGEST_SQL = """
SELECT count(*), coalesce(md5(string_agg(
    concat_ws('|', id, created_at, editor_id, actor_id, actor_label, action, target_type,
              target_id, target_label, reason, outcome, ip_address, user_agent, details::text),
    E'\\n' ORDER BY id)), '')
FROM portal_auditevent
"""


def _audit_digest(alias: str) -> tuple[int, str]:
    with connections[alias].cursor() as cursor:
        cursor.execute(AUDIT_DIGEST_SQL)
        count, digest = cursor.fetchone()
    return count, digest


def check_copy(report: DrillReport) -> None:
    source, target = _table_counts("default"), _table_counts(DRILL_ALIAS)
    report.tables, report.rows = len(target), sum(target.values())
    for table in sorted(set(source) | set(target)):
        if source.get(table) != target.get(table):
            report.failures.append(
                f"table {table}: {source.get(table)} rows in the source, "
                f"{target.get(table)} restored"
            )
    source_audit, target_audit = _audit_digest("default"), _audit_digest(DRILL_ALIAS)
    report.audit_events = target_audit[0]
    if source_audit != target_audit:
        report.failures.append(
            f"audit events differ: {source_audit[0]} in the source, {target_audit[0]} restored "
            "(or their content changed)"
        )


# --------------------------------------------------------------------------- drill


def run_drill(*, target: str | None = None, keep: bool = False) -> DrillReport:
    """Dump the configured database, restore it as `target`, check the copy."""
    if connection.vendor != "postgresql":
        raise DrillError("the restore drill needs PostgreSQL (DATABASE_URL=postgres://...)")
    settings_dict = connection.settings_dict
    target = target or f"{settings_dict['NAME']}_restore_drill"
    if target == settings_dict["NAME"]:
        raise DrillError("the restore target must differ from the source database")
    report = DrillReport(source=settings_dict["NAME"], target=target)
    with tempfile.TemporaryDirectory(prefix="restore-drill-") as folder:
        path = Path(folder) / "portal.dump"
        try:
            dump(settings_dict, path)
            report.dump_bytes = path.stat().st_size
            restore(settings_dict, path, target)
        except subprocess.CalledProcessError as exc:
            raise DrillError(
                f"{Path(exc.cmd[0]).name} failed: {exc.stderr.strip()[-500:]}"
            ) from exc
    # A connection of our own, not a configured alias: the restored copy exists only now.
    backend = load_backend(settings_dict["ENGINE"])
    connections[DRILL_ALIAS] = backend.DatabaseWrapper(
        {**settings_dict, "NAME": target}, alias=DRILL_ALIAS
    )
    try:
        check_copy(report)
        check_sealed(report)
    finally:
        connections[DRILL_ALIAS].close()
        del connections[DRILL_ALIAS]
        if not keep:
            _admin_execute(f"DROP DATABASE IF EXISTS {_quote(target)}")
    return report
