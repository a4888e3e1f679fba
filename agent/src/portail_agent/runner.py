"""One idempotent pass: answer requests awaiting a CSR, install issued certificates, report."""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portail_agent import __version__
from portail_agent.client import ApiError, Client
from portail_agent.config import AgentError, Config, Store

AWAITING_CSR = "awaiting_csr"
ISSUED = "issued"

# Exit codes, as `puppet agent --detailed-exitcodes`: monitoring tells the three apart.
EXIT_NOTHING = 0
EXIT_CHANGED = 2
EXIT_FAILED = 4


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return (EXIT_CHANGED if self.done else EXIT_NOTHING) | (EXIT_FAILED if self.failed else 0)


def client_for(config: Config) -> Client:
    return Client(config.api, config.key, ca_bundle=config.ca_bundle, timeout=config.timeout)


def run_once(store: Store, *, say: Callable[[str], None] = print) -> Outcome:
    """The whole pass. Network or portal failures stop it with nothing half-done."""
    from portail_agent import crypto  # cryptography only where keys are touched

    config = store.load_config()
    client = client_for(config)
    state = store.load_state()
    outcome = Outcome()

    requests = list(client.paginate("certificate-requests/", finess=config.finess))
    for req in requests:
        if req.get("status") == AWAITING_CSR:
            _answer_with_csr(client, store, state, req, outcome, crypto)
    for req in requests:
        if req.get("status") == ISSUED and req.get("certificate"):
            _install(client, store, config, state, req, outcome, crypto)
    for line in outcome.done:
        say(line)
    for line in outcome.failed:
        say("FAILED: " + line)
    if not outcome.done and not outcome.failed:
        say("nothing to do")
    return outcome


def _answer_with_csr(client: Client, store: Store, state: dict[str, Any], req, outcome, crypto):
    request_id = int(req["id"])
    key_path = store.key_path(request_id)
    key = crypto.load_or_create_key(key_path)  # reused if a killed run made it already
    entry = state["requests"].setdefault(str(request_id), {})
    entry["key"] = str(key_path)
    store.save_state(state)
    csr = crypto.build_csr(key, req.get("expected_subject") or {})
    try:
        client.post_json(
            f"certificate-requests/{request_id}/csr/",
            {"csr": csr.decode("ascii")},
            idempotency_key=f"agent-csr-{request_id}",
        )
    except ApiError as exc:
        if exc.status in (400, 409, 422):
            outcome.failed.append(f"request {request_id}: CSR refused: {exc}")
            return
        raise
    entry["csr_uploaded_at"] = _now()
    store.save_state(state)
    outcome.done.append(
        "request {} ({}): key made here, CSR uploaded".format(request_id, req.get("common_name"))
    )


def _install(client, store: Store, config: Config, state, req, outcome, crypto) -> None:
    from portail_agent import install

    request_id = int(req["id"])
    cert_id = int(req["certificate"])
    record = state["installed"].get(str(cert_id))
    if record and record.get("reported"):
        return
    key_path = store.key_path(request_id)
    if not key_path.exists():
        return  # not a key of this agent (server mode, another machine): nothing to install
    key = crypto.load_or_create_key(key_path)
    leaf_pem = client.get_text(f"certificates/{cert_id}/pem/")
    chain_pem = client.get_text(f"certificates/{cert_id}/chain/")
    leaf = crypto.load_certificates(leaf_pem)[0]
    chain = crypto.load_certificates(chain_pem) if chain_pem.strip() else []
    label = "certificate {} ({})".format(cert_id, req.get("common_name"))
    if not crypto.key_matches(key, leaf):
        outcome.failed.append(label + ": does not match the local key, not installed")
        return
    try:
        crypto.check_chain(leaf, chain, _anchors(config, crypto))
    except AgentError as exc:
        outcome.failed.append(f"{label}: {exc}, not installed")
        return
    target = install.target_dir(
        config, store.dir, cn=req.get("common_name") or str(cert_id), profile=req.get("profile")
    )
    if not record:
        files = {
            config.key_file: crypto.key_pem(key),
            config.cert_file: crypto.pem(leaf),
            config.chain_file: b"".join(crypto.pem(c) for c in chain),
            config.fullchain_file: crypto.pem(leaf) + b"".join(crypto.pem(c) for c in chain),
        }
        passphrase = _pkcs12_passphrase(config)
        if passphrase:
            files[config.pkcs12_file] = crypto.pkcs12_bytes(
                key, leaf, chain, passphrase, req.get("common_name") or "certificate"
            )
        install.install_files(target, files)
        record = state["installed"][str(cert_id)] = {
            "request": request_id,
            "dir": str(target),
            "installed_at": _now(),
            "reported": False,
        }
        store.save_state(state)
        outcome.done.append(f"{label}: installed in {target}")
    problem = (
        install.run_hook(config, target, {"PORTAIL_AGENT_CERTIFICATE_ID": str(cert_id)})
        if not record.get("hook_ok")
        else None
    )
    if problem:
        outcome.failed.append(f"{label}: {problem}")
        return
    record["hook_ok"] = True
    store.save_state(state)
    client.post_json(
        f"certificates/{cert_id}/installations/",
        {
            "host": socket.gethostname()[:255] or "pharmacy",
            "installed_at": record["installed_at"],
            "reported_by": "portail-agent " + __version__,
        },
        idempotency_key=f"agent-install-{cert_id}",
    )
    record["reported"] = True
    store.save_state(state)
    outcome.done.append(f"{label}: installation reported")


def _anchors(config: Config, crypto) -> list:
    path = config.extra.get("trust_anchors")
    if not path:
        return []
    return crypto.load_certificates(Path(path).read_text(encoding="ascii"))


def _pkcs12_passphrase(config: Config) -> bytes | None:
    if config.pkcs12_passphrase_file:
        data = Path(config.pkcs12_passphrase_file).read_text(encoding="utf-8").strip()
        return data.encode("utf-8") if data else None
    value = os.environ.get(config.pkcs12_passphrase_env, "")
    return value.encode("utf-8") if value else None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
