"""Loading a FINESS file into the referential: all of it in one transaction, or nothing."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from finess.formats import Extract, LayoutError, Record
from finess.models import Etablissement, Refresh, RefreshKind, RefreshStatus
from finess.signals import referential_refreshed

logger = logging.getLogger(__name__)

BATCH = 5000
COLUMNS = (
    "finess",
    "finess_juridique",
    "raison_sociale",
    "raison_sociale_longue",
    "address",
    "postal_code",
    "city",
    "department",
    "category",
    "category_label",
    "is_open",
    "opened_on",
    "closed_on",
    "updated_on",
)
# Model max_length of each text column: a longer value in the file is cut, not refused.
_LIMITS = {
    name: Etablissement._meta.get_field(name).max_length
    for name in COLUMNS
    if getattr(Etablissement._meta.get_field(name), "max_length", None)
}


class RefreshRefused(ValueError):
    """The file reads well but loading it would be wrong (e.g. a full file far too small)."""


def guess_kind(source: str) -> str:
    """Daily ("journalier") when the file name says so; otherwise a full extract."""
    name = Path(urlparse(source).path).name.lower()
    return RefreshKind.DAILY if "journalier" in name or "daily" in name else RefreshKind.FULL


def referential_import(
    *, source: str, kind: str | None = None, force: bool = False, stream: IO[bytes] | None = None
) -> Refresh:
    """Load the FINESS file at `source` (path or http(s) URL); returns the Refresh row.

    A full file replaces every établissement, a daily file updates those it contains; either
    way in one transaction, so a refused file (wrong layout, truncated, a full file that
    would drop more than FINESS_MAX_SHRINK of the referential unless `force`) changes
    nothing. Never raises for a bad file: the Refresh says FAILED and why.
    """
    kind = kind or guess_kind(source)
    refresh = Refresh.objects.create(kind=kind, source=source[:500])
    try:
        with _local_copy(source, stream) as path:
            refresh.file_sha256 = _sha256(path)
            with _open_binary(path) as raw:
                extract = Extract(raw)
                refresh.file_format = extract.file_format
                with transaction.atomic():
                    _lock_referential()
                    if kind == RefreshKind.FULL:
                        _replace_all(extract, force=force)
                    else:
                        _upsert(extract.records())
                    refresh.total = Etablissement.objects.count()
        refresh.data_date = extract.data_date
        refresh.loaded = extract.count
        refresh.status = RefreshStatus.DONE
    except (LayoutError, RefreshRefused) as exc:
        refresh.status = RefreshStatus.FAILED
        refresh.message = str(exc)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        refresh.status = RefreshStatus.FAILED
        refresh.message = _("The file cannot be read: %(error)s") % {"error": exc}
    except DatabaseError as exc:  # e.g. a value the table refuses: rolled back, said so
        logger.exception("FINESS load failed in the database")
        refresh.status = RefreshStatus.FAILED
        refresh.message = _("The database refused the file: %(error)s") % {"error": exc}
    refresh.finished_at = timezone.now()
    refresh.save()
    if refresh.status == RefreshStatus.DONE:
        logger.info("FINESS %s loaded: %d établissements", refresh.kind, refresh.loaded)
        referential_refreshed.send(sender=Refresh, refresh=refresh)
    else:
        logger.warning("FINESS file refused (%s): %s", source, refresh.message)
    return refresh


# Any constant: two loads (beat and a manual import) never interleave their DELETE and COPY.
_ADVISORY_LOCK = 0x46494E455353  # "FINESS"


def _lock_referential() -> None:
    """Serialise loads inside their transaction (PostgreSQL; SQLite serialises writers)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])


def refresh_mark_compared(*, refresh: Refresh | None, to_verify: int) -> None:
    """Record when the officines were last compared with this refresh (and how many differ)."""
    if refresh is None:
        return
    Refresh.objects.filter(pk=refresh.pk).update(compared_at=timezone.now(), to_verify=to_verify)


# --------------------------------------------------------------------------- sources


@contextlib.contextmanager
def _local_copy(source: str, stream: IO[bytes] | None) -> Iterator[Path]:
    """A local file for `source`: the path itself, or a download / uploaded stream in a
    temporary file removed afterwards."""
    scheme = urlparse(source).scheme.lower()
    if stream is None and scheme not in ("http", "https"):
        if scheme == "file":
            source = urlparse(source).path
        if scheme not in ("", "file") and len(scheme) > 1:
            raise OSError(_("Only http(s) URLs and file paths are accepted."))
        yield Path(source)
        return
    suffix = "".join(Path(urlparse(source).path).suffixes[-2:])
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        if stream is None:
            request = Request(source, headers={"User-Agent": "portail-certificats-officines"})  # noqa: S310 (scheme checked above)
            with urlopen(request, timeout=settings.FINESS_DOWNLOAD_TIMEOUT) as response:  # noqa: S310
                shutil.copyfileobj(response, tmp, length=1 << 20)
        else:
            shutil.copyfileobj(stream, tmp, length=1 << 20)
        tmp.flush()
        yield Path(tmp.name)


@contextlib.contextmanager
def _open_binary(path: Path) -> Iterator[io.BufferedReader]:
    with path.open("rb") as handle:
        magic = handle.read(2)
        handle.seek(0)
        if magic == b"\x1f\x8b":
            with gzip.open(handle) as unzipped:
                yield io.BufferedReader(unzipped, buffer_size=1 << 20)  # type: ignore[arg-type]
        else:
            yield io.BufferedReader(handle, buffer_size=1 << 20)  # type: ignore[arg-type]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- writing


def _values(record: Record) -> tuple[Any, ...]:
    values = []
    for name in COLUMNS:
        value = getattr(record, name)
        limit = _LIMITS.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            value = value[:limit]
        values.append(value)
    return tuple(values)


def _replace_all(extract: Extract, *, force: bool) -> None:
    """Full extract: delete every row then insert the file (COPY on PostgreSQL), inside the
    caller's transaction: readers keep seeing the previous referential until it commits."""
    previous = Etablissement.objects.count()
    table = connection.ops.quote_name(Etablissement._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (model table name)
    rows = (_values(record) for record in extract.records())
    if connection.vendor == "postgresql":
        _copy(rows)
    else:
        _insert(rows)
    shrink = settings.FINESS_MAX_SHRINK
    if previous and not force and extract.count < previous * (1 - shrink):
        raise RefreshRefused(
            _(
                "This full file holds %(count)d établissements where the referential has "
                "%(previous)d: refused as probably truncated (use --force to load it anyway)."
            )
            % {"count": extract.count, "previous": previous}
        )


def _copy(rows: Iterable[tuple[Any, ...]]) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in COLUMNS)
    table = quote(Etablissement._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for values in rows:
            copy.write_row(values)


def _insert(rows: Iterable[tuple[Any, ...]]) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in COLUMNS)
    table = quote(Etablissement._meta.db_table)
    marks = ", ".join(["%s"] * len(COLUMNS))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 (model names)
    batch: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for values in rows:
            batch.append(values)
            if len(batch) == BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def _upsert(records: Iterable[Record]) -> None:
    """Daily file: insert new établissements, overwrite the ones it contains."""
    batch: list[Etablissement] = []
    fields = [name for name in COLUMNS if name != "finess"]

    def flush() -> None:
        Etablissement.objects.bulk_create(
            batch, update_conflicts=True, unique_fields=["finess"], update_fields=fields
        )

    for record in records:
        batch.append(Etablissement(**dict(zip(COLUMNS, _values(record), strict=True))))
        if len(batch) == BATCH:
            flush()
            batch = []
    if batch:
        flush()
