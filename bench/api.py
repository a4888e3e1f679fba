"""REST API at national scale: certificate list (page of 100, filtered) and officine by FINESS.

Targets (issue #8): a page of 100 certificates WITH filters, median under 60 ms; an officine
retrieved by its FINESS, median under 20 ms; the throughput with 8 concurrent clients is
reported (no target). Reference: `GET /api/v1/ping/`, the cheapest authenticated DRF
endpoint (key look-up, scopes, throttling, JSON) of the same server in the same run
(`ratio` = endpoint / ping), which says what an endpoint costs beyond the fixed price of a
request, whatever the machine.

Endpoints, all authenticated with a read-only API key of the measured editor:

* `ping` — `GET /api/v1/ping/`;
* `certificate_list_100_filtered` — `GET /api/v1/certificates/?page_size=100&status=valid
  &profile=ORG_AUTH_CLI`, cycling through the first pages of that listing (their cursor
  `next` links, collected untimed): a synchronising LGO walks them in turn;
* `certificate_list_100` — the same without filters (first pages), for comparison;
* `officine_by_finess` — `GET /api/v1/officines/{finess}/`, the API's "by FINESS" route (the
  officine with its coverage matrix), over a fixed random sample of the editor's officines.

Two measures per endpoint:

* single client: sequential GETs from this process, one client connection (gunicorn's sync
  workers answer `Connection: close`, so http.client reconnects on loopback before each
  request, as any client of this server does), after untimed warm-up requests; median and
  p95 of the time until the whole body is read;
* 8 clients: 8 threads, each with its own connection, sending GETs back to back for a fixed
  window after a few untimed warm-up requests each; requests per second, p50 and p95.

Any non-200 answer aborts the run.

Data. Full run: the seeded data set (bench.common.ensure_scale_data: `manage.py seed_scale`,
seeded when absent), its big editor ("Bench Éditeur 01": 10,000 officines, ~50,000
certificates). Quick run: the quick seeded data set when present, else a throwaway editor
"bench-api-<timestamp>" with 300 officines and one certificate each (a real demo IGC Santé
certificate cloned with distinct fingerprints). On the seeded data the bench writes nothing
but its API key (created by `api_key_create`; revoked, then deleted at the end) and the
append-only audit rows of that key; it runs ANALYZE (statistics only, as autovacuum would)
so plans are the steady-state ones. The throwaway editor's data is deleted at the end; the
editor stays, deactivated, with its audit rows (bench.common.retire_editors).

Server: `gunicorn portal.wsgi` (bench.common.Gunicorn: sync workers, 2 per core, preloaded)
with DEBUG off and the per-key rate limit raised so throttling does not cap the run.

Database: the one of DATABASE_URL (default: the dev SQLite file), which must be migrated.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python -m bench.api [--quick] [--seconds 10] [--count 200]

`run(quick)` returns rows {name, value, unit, target, reference, ratio} for `bench/run`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench import common

CLIENTS = 8
HOST = "127.0.0.1"
LIST_MS = 60  # median, page of 100 with filters
FINESS_MS = 20  # median, officine by FINESS
FILTERS = "status=valid&profile=ORG_AUTH_CLI"
LIST_PAGES = 20  # first pages of a listing the list scenarios cycle through
FINESS_SAMPLE = 500
RATE = "1000000/minute"


@dataclass
class Dataset:
    editor_id: int
    label: str  # what the reference column says about the data
    raw_key: str
    finesses: list[str]
    throwaway: bool


# --------------------------------------------------------------------------- data


def _create_data(n_officines: int) -> tuple[int, list[str]]:
    """A throwaway editor, its officines and one certificate each; (editor id, finesses)."""
    from certificates import x509
    from certificates.demo_pki import DemoPKI
    from certificates.models import Certificate
    from officines.identifiers import generate_finess
    from officines.models import Officine
    from portal.models import Editor

    editor = Editor.objects.create(name=f"bench-api-{time.time_ns()}")
    officines = Officine.objects.bulk_create(
        Officine(
            editor=editor,
            finess=generate_finess("69", 100_000 + n),
            raison_sociale=f"PHARMACIE BENCH {n}",
            department="69",
            city="Lyon",
        )
        for n in range(n_officines)
    )
    pki = DemoPKI.create()
    _, cert = pki.issue_for(
        finess=officines[0].finess,
        raison_sociale=officines[0].raison_sociale,
        department="Rhône (69)",
        common_name="INSI-AUTO",
        profile=x509.Profile.ORG_AUTH_CLI,
    )
    info = x509.describe_certificate(cert)
    chain = "".join(x509.certificate_to_pem(c) for c in pki.chain_for("production"))
    stamp = time.time_ns()
    Certificate.objects.bulk_create(
        (
            Certificate(
                editor=editor,
                officine=officine,
                profile="ORG_AUTH_CLI",
                common_name="INSI-AUTO",
                services=["INSI"],
                serial=info.serial,
                subject_dn=info.subject,
                issuer_dn=info.issuer,
                not_before=info.not_before,
                not_after=info.not_after,
                usable_until=info.usable_until,
                fingerprint_sha256=f"{stamp:032x}{n:032x}",
                public_key_sha256=info.public_key_sha256,
                environment="production",
                chain_status="trusted_production",
                pem=info.pem,
                chain_pem=chain,
            )
            for n, officine in enumerate(officines)
        ),
        batch_size=500,
    )
    return editor.pk, [o.finess for o in officines]


def _seeded_editor(quick: bool) -> tuple[int, int] | None:
    """(id, officines) of the seeded data set's big editor; the full run seeds it when absent,
    the quick run only uses it when present."""
    from bench.seeding import spec as seed
    from officines.models import Officine
    from portal.models import Editor

    if not quick:
        data = common.ensure_scale_data(False)
        return data.big_editor_id, data.big_officines
    big = Editor.objects.filter(
        name=seed.editor_name(1, common.QUICK_PREFIX), is_active=True
    ).first()
    if big is None:
        return None
    return big.pk, Officine.objects.of_editor(big.pk).count()


def _dataset(quick: bool, n_officines: int | None) -> Dataset:
    from officines.models import Officine

    seeded = None if n_officines else _seeded_editor(quick)
    if seeded is None:
        editor_id, finesses = _create_data(n_officines or 300)
        label, throwaway = f"throwaway editor, {len(finesses)} officines", True
    else:
        editor_id, officines = seeded
        common.analyze()
        finesses = list(
            Officine.objects.of_editor(editor_id).order_by("id").values_list("finess", flat=True)
        )
        label, throwaway = f"seeded big editor, {officines} officines", False
    sample = random.Random(2026).sample(finesses, min(FINESS_SAMPLE, len(finesses)))
    return Dataset(editor_id, label, common.api_key_for(editor_id), sample, throwaway)


def _cleanup(data: Dataset) -> None:
    """Throwaway editor: retired. Seeded editor: its bench key revoked (audited) and deleted."""
    from portal.api.keys import api_key_lookup, api_key_revoke

    if data.throwaway:
        common.retire_editors([data.editor_id])
        return
    key = api_key_lookup(data.raw_key)
    if key is not None:
        api_key_revoke(api_key=key, actor=None)
        key.delete()


# --------------------------------------------------------------------------- requests


def _headers(raw_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw_key}", "Accept": "application/json"}


def _list_pages(client: common.HttpClient, first: str, pages: int) -> list[str]:
    """The paths of the first `pages` pages of a listing, following its `next` links."""
    paths, path = [], first
    while path and len(paths) < pages:
        status, _ms, body = client.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}")
        paths.append(path)
        following = json.loads(body)["next"]
        path = None
        if following:
            parts = urlsplit(following)
            path = f"{parts.path}?{parts.query}"
    return paths


def _single(client: common.HttpClient, paths: list[str], count: int, warmup: int) -> list[float]:
    """Latencies (ms) of `count` sequential GETs cycling through `paths`, after `warmup`."""
    for n in range(warmup):
        client.get(paths[n % len(paths)])
    latencies = []
    for n in range(count):
        path = paths[n % len(paths)]
        status, ms, _body = client.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}")
        latencies.append(ms)
    return latencies


def _load(port: int, raw_key: str, paths: list[str], seconds: float, warmup: int) -> dict:
    """8 threads sending GETs back to back; returns rate and latency percentiles.

    Each client first sends `warmup` untimed requests (cold workers, caches); then all
    start the timed window together.
    """
    headers = _headers(raw_key)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors: list[str] = []
    barrier = threading.Barrier(CLIENTS + 1)
    window: dict[str, float] = {}

    def get(connection: http.client.HTTPConnection, path: str) -> None:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        if response.getheader("Connection", "").lower() == "close":
            connection.close()

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        rng = random.Random(index)
        try:
            for _ in range(warmup):
                get(connection, rng.choice(paths))
        except (OSError, RuntimeError, http.client.HTTPException) as exc:
            errors.append(f"client {index}: {exc!r}")
        barrier.wait()
        try:
            while not errors and (started := time.monotonic()) < window["stop"]:
                get(connection, rng.choice(paths))
                latencies[index].append(time.monotonic() - started)
        except (OSError, RuntimeError, http.client.HTTPException) as exc:
            errors.append(f"client {index}: {exc!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    window["stop"] = float("inf")
    barrier.wait()
    begin = time.monotonic()
    window["stop"] = begin + seconds
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - begin  # includes the requests in flight at the deadline
    if errors:
        raise SystemExit(f"load aborted: {errors[0]}")
    samples = sorted(x for per_client in latencies for x in per_client)
    if not samples:
        raise SystemExit("no request completed in the measured window")
    return {
        "rps": len(samples) / elapsed,
        "p50_ms": 1000 * common.median(samples),
        "p95_ms": 1000 * common.percentile(samples, 0.95),
        "requests": len(samples),
    }


# --------------------------------------------------------------------------- measure


def measure(
    *, quick: bool, seconds: float, count: int, warmup: int, n_officines: int | None = None
) -> list[dict]:
    common.setup_django()
    common.check_migrated()
    data = _dataset(quick, n_officines)
    try:
        with common.Gunicorn(
            workers=2 * (os.cpu_count() or 1),
            env={"API_RATE_PER_KEY": RATE},
            static=True,  # gunicorn refuses to boot without the manifest (portal.deploy_checks)
            preload=True,
        ) as server:
            client = common.HttpClient(HOST, server.port, headers=_headers(data.raw_key))
            pages = 2 if quick else LIST_PAGES
            scenarios = {
                "ping": ["/api/v1/ping/"],
                "certificate_list_100_filtered": _list_pages(
                    client, f"/api/v1/certificates/?page_size=100&{FILTERS}", pages
                ),
                "certificate_list_100": _list_pages(
                    client, "/api/v1/certificates/?page_size=100", pages
                ),
                "officine_by_finess": [f"/api/v1/officines/{f}/" for f in data.finesses],
            }
            single = {
                name: _single(client, paths, count, warmup) for name, paths in scenarios.items()
            }
            client.close()
            loaded = {
                name: _load(server.port, data.raw_key, paths, seconds, warmup)
                for name, paths in scenarios.items()
            }
    finally:
        _cleanup(data)
    return _rows(data, scenarios, single, loaded)


def _rows(data: Dataset, scenarios: dict, single: dict, loaded: dict) -> list[dict]:
    targets = {"certificate_list_100_filtered": LIST_MS, "officine_by_finess": FINESS_MS}
    ping_median = common.median(single["ping"])
    ping_p95 = common.percentile(single["ping"], 0.95)
    rows = [
        common.row("api.ping.single_median", ping_median, "ms", None, data.label, digits=2),
        common.row("api.ping.single_p95", ping_p95, "ms", None, "1 client, sequential", digits=2),
    ]
    for name, latencies in single.items():
        if name == "ping":
            continue
        rows.append(
            common.row(
                f"api.{name}.single_median",
                common.median(latencies),
                "ms",
                targets.get(name),
                ping_median,
                digits=2,
            )
        )
        rows.append(
            common.row(
                f"api.{name}.single_p95",
                common.percentile(latencies, 0.95),
                "ms",
                None,
                ping_p95,
                digits=2,
            )
        )
    if "certificate_list_100_filtered" in scenarios:
        pages = len(scenarios["certificate_list_100_filtered"])
        rows.append(
            common.row(
                "api.certificate_list_100_filtered.pages",
                pages,
                "pages",
                None,
                f"?{FILTERS}",
                digits=0,
            )
        )
    ping = loaded["ping"]
    for name, result in loaded.items():
        is_reference = name == "ping"
        rows.append(
            common.row(
                f"api.{name}.throughput",
                result["rps"],
                f"req/s ({CLIENTS} clients)",
                reference=None if is_reference else ping["rps"],
                digits=1,
            )
        )
        for percentile in ("p50_ms", "p95_ms"):
            rows.append(
                common.row(
                    f"api.{name}.latency_{percentile[:3]}",
                    result[percentile],
                    f"ms ({CLIENTS} clients)",
                    reference=None if is_reference else ping[percentile],
                    digits=2,
                )
            )
    return rows


def run(quick: bool) -> list[dict]:
    if quick:
        return measure(quick=True, seconds=3.0, count=20, warmup=3)
    return measure(quick=False, seconds=10.0, count=200, warmup=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, 3 s per endpoint")
    parser.add_argument("--seconds", type=float, default=None, help="8-client window")
    parser.add_argument("--count", type=int, default=None, help="single-client requests")
    parser.add_argument(
        "--officines", type=int, default=None, help="use a throwaway editor of this size"
    )
    args = parser.parse_args()
    if args.seconds is None and args.count is None and args.officines is None:
        rows = run(args.quick)
    else:
        rows = measure(
            quick=args.quick,
            seconds=args.seconds or (3.0 if args.quick else 10.0),
            count=args.count or (20 if args.quick else 200),
            warmup=3 if args.quick else 10,
            n_officines=args.officines,
        )
    print(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
