"""Sign the seeded certificates with the demo IGC Santé PKI over shared keys, in a process pool."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

from bench.seeding.spec import KEY_COUNT
from certificates import x509 as igc
from certificates.demo_pki import DemoPKI

if TYPE_CHECKING:
    from certificates.x509 import CertificateInfo


_WORKER: dict[str, Any] = {}


def _load_keys(path: Path) -> list:
    blocks = path.read_bytes().split(b"\n\n")
    # Our own freshly generated keys: skipping the (slow) RSA consistency check is safe.
    return [
        serialization.load_pem_private_key(b, password=None, unsafe_skip_rsa_key_validation=True)
        for b in blocks
        if b.strip()
    ]


def worker_init(pki_dir: str, keys_file: str) -> None:
    _WORKER["pki"] = DemoPKI.load(Path(pki_dir))
    _WORKER["keys"] = _load_keys(Path(keys_file))


def issue_chunk(specs: list[tuple]) -> list[CertificateInfo]:
    """Sign a chunk of certificates, described the way certificate import stores them."""
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


def prepare_pki(directory: Path) -> tuple[Any, Path]:
    """Demo CAs and shared keys kept in var/bench so reruns sign with the same CAs."""
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


def signing_pool(processes: int, initargs: tuple) -> Any:
    """A fork pool when available (workers only sign: no database use), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return context.Pool(processes, initializer=worker_init, initargs=initargs)
