"""Throughput of server-mode CSR generation against bare RSA key generation.

What `csr_generate` does besides the database: RSA key generation, DN + SHA-256 CSR,
SPKI hash, PKCS#8 export and AES-256-GCM wrapping. RSA key generation dominates, so
the portal path should run close to a bare `rsa.generate_private_key` loop (target:
at least 90 % of its rate). Both run in the same process pool over os.cpu_count()
cores, bare first then portal, in the same run. The database write is not timed.

    DEBUG=1 .venv/bin/python -m bench.csr [--n 300] [--quick]

`run(quick)` returns rows {name, value, unit, target, reference, ratio} for `bench/run`.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import time

from bench import common

TARGET_RATIO = 0.9
_WRAPPING_KEY = None  # set in each worker by _init


def _init(wrapping_key_b64: str) -> None:
    global _WRAPPING_KEY
    common.setup_django()  # dev settings are enough: no key from settings is used
    from portal import sealing

    _WRAPPING_KEY = sealing.parse_wrapping_key(wrapping_key_b64)


def _bare(_: int) -> int:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).key_size


def _portal(index: int, key=None) -> int:
    """The work of csr_generate minus the database: same functions, same order."""
    from certificates import keystore, x509
    from portal import sealing

    subject = x509.build_subject(
        department="Rhône (69)",
        raison_sociale=f"PHARMACIE DU RHÔNE {index}",
        finess="690010137",
        common_name="LGO",
    )
    key = key or x509.generate_private_key(algorithm="RSA", key_size=2048)
    csr = x509.build_csr(private_key=key, subject=subject)
    x509.public_key_sha256(key.public_key())
    envelope = sealing.seal(
        x509.private_key_to_der(key),
        associated_data=keystore.associated_data_for(index),
        key=_WRAPPING_KEY,
    )
    return len(csr) + len(envelope)


def _overhead_ms(repeat: int = 100) -> float:
    """Milliseconds per CSR of everything but key generation (one key reused): low noise."""
    from certificates import x509

    key = x509.generate_private_key()
    started = time.perf_counter()
    for index in range(repeat):
        _portal(index, key)
    return 1000 * (time.perf_counter() - started) / repeat


def measure(n: int, processes: int | None = None, rounds: int = 10) -> list[dict]:
    """Rates over n keys each; bare and portal alternate in `rounds` slices so that load
    changes on the machine hit both alike (RSA key generation time is itself random)."""
    processes = processes or os.cpu_count() or 1
    wrapping_key = base64.b64encode(os.urandom(32)).decode("ascii")
    rounds = max(1, min(rounds, n))
    sizes = [n // rounds + (1 if r < n % rounds else 0) for r in range(rounds)]
    elapsed = {"bare": 0.0, "portal": 0.0}
    with multiprocessing.Pool(processes, initializer=_init, initargs=(wrapping_key,)) as pool:
        pool.map(_bare, range(processes))  # warm-up: imports and first keys out of the timing
        pool.map(_portal, range(processes))
        for size in sizes:
            for name, work in (("bare", _bare), ("portal", _portal)):
                started = time.perf_counter()
                for _ in pool.imap_unordered(work, range(size), chunksize=1):
                    pass
                elapsed[name] += time.perf_counter() - started
    _init(wrapping_key)
    overhead = _overhead_ms()
    bare, portal = n / elapsed["bare"], n / elapsed["portal"]
    keygen_ms = 1000 * processes / bare  # one key on one core
    return [
        common.row("csr.bare_rsa2048_keygen", bare, "keys/s", digits=2),
        common.row("csr.generate_pure", portal, "CSRs/s", TARGET_RATIO * bare, bare, digits=2),
        # Per CSR, single core: subject, CSR signature, SPKI hash, PKCS#8, AES-GCM; the
        # reference is the time of one bare key on one core.
        common.row(
            "csr.overhead_besides_keygen",
            overhead,
            "ms/CSR",
            reference=round(1000 * processes / bare, 1),
            ratio=overhead * bare / (1000 * processes),
            ratio_digits=4,
        ),
        # The same ratio without the sampling noise of the two loops (RSA prime search makes
        # each key's time random: over n keys the measured rates still differ by a few %):
        # the bare rate times a key's time over (that time + the measured overhead).
        common.row(
            "csr.generate_from_overhead",
            bare * keygen_ms / (keygen_ms + overhead),
            "CSRs/s",
            TARGET_RATIO * bare,
            bare,
            digits=2,
            ratio_digits=4,
        ),
    ]


def run(quick: bool) -> list[dict]:
    """Entry point for the bench aggregator: 10 keys each when quick, else 300."""
    return measure(10 if quick else 300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="keys per measurement")
    parser.add_argument("--quick", action="store_true", help="10 keys per measurement")
    parser.add_argument("--processes", type=int, default=None, help="default: os.cpu_count()")
    args = parser.parse_args()
    n = 10 if args.quick else args.n
    processes = args.processes or os.cpu_count() or 1
    bare, portal, overhead, _estimate = measure(n, processes)
    print(f"{n} keys per measurement, {processes} process(es), RSA 2048")
    print(f"bare rsa.generate_private_key : {bare['value']:8.2f} keys/s")
    print(
        f"portal key + CSR + encryption : {portal['value']:8.2f} CSRs/s  "
        f"ratio {portal['ratio']:.3f} (target ≥ {TARGET_RATIO})"
    )
    print(
        f"besides key generation        : {overhead['value']:8.3f} ms/CSR "
        f"({100 * overhead['ratio']:.2f} % of a {overhead['reference']} ms key, one core)"
    )


if __name__ == "__main__":
    main()
