"""Command line: `portail-agent enroll | run | status | rollback`."""

from __future__ import annotations

import argparse
import datetime
import json
import sys

from portail_agent import __version__
from portail_agent.config import AgentError, Config, Store

DESCRIPTION = """\
Pharmacy-side agent of the certificate portal. It makes each private key on this machine,
sends only the CSR, installs the certificate once ANS has issued it and reports it.
Exit codes of `run`: 0 nothing to do, 2 something done, 4 failed, 6 both."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portail-agent", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", help="configuration folder (default: per-user folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    enroll = sub.add_parser(
        "enroll", parents=[common], help="check an officine-limited API key and store it"
    )
    enroll.add_argument("--url", required=True, help="portal URL, e.g. https://portail.example")
    enroll.add_argument("--key", required=True, help="API key (lgo_…) limited to one officine")
    enroll.add_argument("--ca-bundle", help="CA file to verify the portal's TLS certificate")
    enroll.add_argument("--install-dir", help="where certificates go ({cn}, {profile}, {finess})")
    enroll.add_argument("--deploy-hook", help="command run after an installation")
    enroll.add_argument("--pkcs12-passphrase-file", help="also write a PKCS#12 protected by this")

    sub.add_parser("run", parents=[common], help="one idempotent pass (schedule it hourly)")
    status = sub.add_parser("status", parents=[common], help="certificates and pending requests")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    rollback = sub.add_parser("rollback", parents=[common], help="reinstall the previous version")
    rollback.add_argument("common_name", help="common name of the certificate folder")

    args = parser.parse_args(argv)
    store = Store(args.dir)
    try:
        return COMMANDS[args.command](store, args)
    except AgentError as exc:
        print(f"portail-agent: error: {exc}", file=sys.stderr)
        return 4 if args.command == "run" else 1


def cmd_enroll(store: Store, args) -> int:
    from portail_agent.runner import client_for

    config = Config(url=args.url, key=args.key, ca_bundle=args.ca_bundle)
    ping = client_for(config).get_json("ping/")
    if not ping.get("officine"):
        raise AgentError(
            "this API key is not limited to one officine: ask the editor for a key made with "
            "--officine <FINESS> (the agent acts for one pharmacy only)"
        )
    if "write" not in (ping.get("scopes") or []):
        raise AgentError("this API key lacks the `write` scope (needed to upload CSRs)")
    config.finess = ping["officine"]
    config.install_dir = args.install_dir
    config.deploy_hook = args.deploy_hook
    config.pkcs12_passphrase_file = args.pkcs12_passphrase_file
    path = store.save_config(config)
    print(
        "enrolled for officine {} (key {}), configuration in {}".format(
            config.finess, ping.get("api_key"), path
        )
    )
    return 0


def cmd_run(store: Store, args) -> int:
    from portail_agent.runner import run_once

    return run_once(store).exit_code


def cmd_status(store: Store, args) -> int:
    from portail_agent.runner import client_for

    config = store.load_config()
    client = client_for(config)
    state = store.load_state()
    today = datetime.datetime.now(datetime.UTC)
    certificates = []
    for cert in client.paginate("certificates/", finess=config.finess, status="valid"):
        until = cert.get("usable_until") or cert.get("not_after")
        days = None
        if until:
            end = datetime.datetime.fromisoformat(until.replace("Z", "+00:00"))
            days = (end - today).days
        certificates.append(
            {
                "id": cert["id"],
                "common_name": cert.get("common_name"),
                "profile": cert.get("profile"),
                "usable_until": until,
                "days_left": days,
                "installed_here": str(cert["id"]) in state["installed"],
                "installed": bool(cert.get("installed")) or str(cert["id"]) in state["installed"],
            }
        )
    pending = [
        {"id": r["id"], "common_name": r.get("common_name"), "status": r.get("status")}
        for r in client.paginate("certificate-requests/", finess=config.finess)
        if r.get("status") not in ("issued", "cancelled")
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "finess": config.finess,
                    "certificates": certificates,
                    "pending_requests": pending,
                },
                indent=2,
            )
        )
        return 0
    print(f"Officine {config.finess}")
    for c in certificates:
        print(
            "  {:<24} {:<14} {:>5} days  {}".format(
                c["common_name"] or "?",
                c["profile"] or "",
                c["days_left"] if c["days_left"] is not None else "?",
                "installed here"
                if c["installed_here"]
                else ("installed" if c["installed"] else "NOT INSTALLED"),
            )
        )
    for r in pending:
        print("  request {} {} : {}".format(r["id"], r["common_name"], r["status"]))
    if not certificates and not pending:
        print("  no live certificate, no pending request")
    return 0


def cmd_rollback(store: Store, args) -> int:
    from portail_agent import install

    config = store.load_config()
    target = install.target_dir(config, store.dir, cn=args.common_name, profile="")
    install.rollback(target)
    print(f"restored the previous version in {target}")
    return 0


COMMANDS = {"enroll": cmd_enroll, "run": cmd_run, "status": cmd_status, "rollback": cmd_rollback}
