"""REST API under concurrent load: certificate list (page of 100) and officine by FINESS.

What it measures: requests per second and latency (p50, p95) of three authenticated GETs,
served by gunicorn on 127.0.0.1 and driven by 8 concurrent clients in the same run:

* `GET /api/v1/ping/` — the cheapest authenticated DRF endpoint (key look-up, scopes,
  throttling, JSON): the reference;
* `GET /api/v1/certificates/?page_size=100` — a page of 100 certificates;
* `GET /api/v1/officines/{finess}/` — one officine by FINESS, with its coverage matrix.

Each endpoint's throughput is reported next to ping's (`ratio` = endpoint / ping), so the
numbers say what the endpoint costs beyond the fixed price of a request, whatever the
machine. There is no absolute target in the issue: `target` is left empty.

Setup, not timed: a throwaway editor "bench-api-<timestamp>" with N officines, one
certificate each (a real demo IGC Santé certificate, cloned with distinct fingerprints),
and a read-only API key. The server is `gunicorn portal.wsgi` (bench.common.Gunicorn: sync
workers, 2 per core, preloaded) with DEBUG off and the per-key rate limit raised so
throttling does not cap the run. The load generator is plain Python: 8 threads, each with
its own `http.client` connection (re-opened when gunicorn closes it), requests sent back to
back for a fixed duration after a few untimed warm-up requests per client. Any non-200 answer aborts the run. At the end
the bench editor's data is deleted; the editor stays, deactivated, with its append-only
audit rows (bench.common.retire_editors).

Database: the one of DATABASE_URL (default: the dev SQLite file), which must be migrated.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python -m bench.api [--quick] [--seconds 10] [--officines 2000]

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

from bench import common

CLIENTS = 8
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- data


def _create_data(n_officines: int) -> tuple[object, str, list[str]]:
    """Editor, officines, certificates and a read key; returns (editor, raw key, finesses)."""
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
    return editor, common.api_key_for(editor.pk), [o.finess for o in officines]


# --------------------------------------------------------------------------- load


def _load(port: int, raw_key: str, paths: list[str], seconds: float, warmup: int) -> dict:
    """8 threads sending GETs back to back; returns rate and latency percentiles.

    Each client first sends `warmup` untimed requests (cold workers, caches); then all
    start the timed window together.
    """
    headers = {"Authorization": f"Bearer {raw_key}", "Accept": "application/json"}
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


def measure(*, n_officines: int, seconds: float, warmup: int) -> list[dict]:
    common.setup_django()
    common.check_migrated()
    editor, raw_key, finesses = _create_data(n_officines)
    try:
        with common.Gunicorn(
            workers=2 * (os.cpu_count() or 1),
            env={"API_RATE_PER_KEY": "1000000/minute"},
            static=False,
            preload=True,
        ) as server:
            scenarios = {
                "ping": ["/api/v1/ping/"],
                "certificate_list_100": ["/api/v1/certificates/?page_size=100"],
                "officine_by_finess": [f"/api/v1/officines/{f}/" for f in finesses],
            }
            results = {
                name: _load(server.port, raw_key, paths, seconds, warmup)
                for name, paths in scenarios.items()
            }
    finally:
        common.retire_editors([editor.pk])
    ping = results["ping"]
    rows = []
    for name, result in results.items():
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
                    "ms",
                    reference=None if is_reference else ping[percentile],
                    digits=2,
                )
            )
    return rows


def run(quick: bool) -> list[dict]:
    if quick:
        return measure(n_officines=300, seconds=3.0, warmup=3)
    return measure(n_officines=2000, seconds=10.0, warmup=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, 3 s per endpoint")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--officines", type=int, default=None)
    args = parser.parse_args()
    if args.seconds is None and args.officines is None:
        rows = run(args.quick)
    else:
        rows = measure(
            n_officines=args.officines or (300 if args.quick else 2000),
            seconds=args.seconds or (3.0 if args.quick else 10.0),
            warmup=3,
        )
    print(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
