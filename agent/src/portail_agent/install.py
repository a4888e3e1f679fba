"""Installing a certificate: all files or none, the previous version kept for rollback."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from portail_agent.config import AgentError, Config, write_private

PREVIOUS = "previous"
STAGING_SUFFIX = ".staging"


def target_dir(config: Config, base: Path, *, cn: str, profile: str) -> Path:
    """Where a certificate's files go: `install_dir` with {cn}/{profile}/{finess}, else
    `<agent dir>/certs/<cn>`."""
    safe_cn = "".join(c if c.isalnum() or c in "-_." else "_" for c in cn) or "certificate"
    if config.install_dir:
        return Path(config.install_dir.format(cn=safe_cn, profile=profile, finess=config.finess))
    return base / "certs" / safe_cn


def recover(target: Path) -> None:
    """Finish or undo an installation a killed run left half-way (see `install_files`)."""
    staging = target.with_name(target.name + STAGING_SUFFIX)
    if staging.exists() and not target.exists():
        os.replace(str(staging), str(target))  # the swap was interrupted after the first rename
    elif staging.exists():
        shutil.rmtree(str(staging))  # the files were being written: start over


def install_files(target: Path, files: dict[str, bytes]) -> None:
    """Write every file into a staging folder, then swap it with the current folder, which
    becomes `previous/` inside the new one. A crash leaves either the old or the new set."""
    recover(target)
    staging = target.with_name(target.name + STAGING_SUFFIX)
    staging.mkdir(parents=True)
    if os.name == "posix":
        os.chmod(str(staging), 0o700)
    for name, data in files.items():
        write_private(staging / name, data)
    if target.exists():
        old_previous = target / PREVIOUS
        if old_previous.exists():
            shutil.rmtree(str(old_previous))
        keep = staging / PREVIOUS
        keep.mkdir()
        for entry in target.iterdir():
            if entry.is_file():
                shutil.copy2(str(entry), str(keep / entry.name))
        shutil.rmtree(str(target))
    os.replace(str(staging), str(target))


def rollback(target: Path) -> None:
    """Put `previous/` back in place (used by `portail-agent rollback`)."""
    previous = target / PREVIOUS
    if not previous.is_dir():
        raise AgentError(f"nothing to roll back to in {target}")
    files = {entry.name: entry.read_bytes() for entry in previous.iterdir() if entry.is_file()}
    install_files(target, files)


def run_hook(config: Config, target: Path, env_extra: dict[str, str]) -> str | None:
    """Run the vendor's deploy hook (e.g. restart the LGO service). Returns an error or None."""
    if not config.deploy_hook:
        return None
    env = dict(os.environ)
    env.update(env_extra)
    env["PORTAIL_AGENT_CERT_DIR"] = str(target)
    try:
        result = subprocess.run(  # noqa: S602 - the vendor's own configured command
            config.deploy_hook,
            shell=True,
            env=env,
            timeout=config.deploy_hook_timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except subprocess.TimeoutExpired:
        return f"deploy hook timed out after {config.deploy_hook_timeout} s"
    if result.returncode != 0:
        tail = result.stdout.decode("utf-8", "replace").strip().splitlines()[-1:]
        return "deploy hook exited with {}{}".format(
            result.returncode, ": " + tail[0] if tail else ""
        )
    return None
