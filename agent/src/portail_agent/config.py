"""Where the agent keeps its configuration and state, and how it writes files safely."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.json"
STATE_NAME = "state.json"


class AgentError(Exception):
    """A failure the agent reports in one line (no traceback, never key material)."""


def default_dir() -> Path:
    """The per-user configuration folder: %APPDATA% on Windows, XDG elsewhere."""
    if sys.platform.startswith("win"):
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "portail-agent"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "portail-agent"


def write_private(path: Path, data: bytes) -> None:
    """Write `data` atomically, readable by the owner only (0600 on POSIX) from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".")
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class Config:
    """What `enroll` stores. Vendors may edit the file to set paths and the deploy hook."""

    url: str
    key: str
    finess: str = ""
    officine: int | None = None
    ca_bundle: str | None = None
    # Installed files: a folder per certificate, `{cn}`, `{profile}`, `{finess}` substituted.
    install_dir: str | None = None
    key_file: str = "key.pem"
    cert_file: str = "cert.pem"
    chain_file: str = "chain.pem"
    fullchain_file: str = "fullchain.pem"
    pkcs12_file: str = "bundle.p12"
    # The PKCS#12 passphrase comes from a file or an environment variable, never the config.
    pkcs12_passphrase_file: str | None = None
    pkcs12_passphrase_env: str = "PORTAIL_AGENT_PKCS12_PASSPHRASE"  # noqa: S105 - a variable name
    deploy_hook: str | None = None
    deploy_hook_timeout: int = 300
    timeout: int = 30
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.url.rstrip("/") + "/api/v1"


class Store:
    """The agent's folder: config.json, state.json, keys/ and (by default) certs/."""

    def __init__(self, directory: str | None) -> None:
        self.dir = Path(directory) if directory else default_dir()

    @property
    def keys_dir(self) -> Path:
        return self.dir / "keys"

    def key_path(self, request_id: int) -> Path:
        return self.keys_dir / f"request-{request_id}.key.pem"

    def load_config(self) -> Config:
        path = self.dir / CONFIG_NAME
        if not path.exists():
            raise AgentError(
                f"not enrolled: no {path} (run `portail-agent enroll --url URL --key KEY`)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {k: v for k, v in data.items() if k in Config.__dataclass_fields__}
            return Config(**known)
        except (ValueError, TypeError) as exc:
            raise AgentError(f"unreadable configuration {path}: {exc}") from None

    def save_config(self, config: Config) -> Path:
        path = self.dir / CONFIG_NAME
        write_private(path, json.dumps(asdict(config), indent=2, sort_keys=True).encode())
        return path

    def load_state(self) -> dict[str, Any]:
        path = self.dir / STATE_NAME
        if not path.exists():
            return {"requests": {}, "installed": {}}
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise AgentError(f"unreadable state file {path}: {exc}") from None
        state.setdefault("requests", {})
        state.setdefault("installed", {})
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        write_private(self.dir / STATE_NAME, json.dumps(state, indent=2, sort_keys=True).encode())
