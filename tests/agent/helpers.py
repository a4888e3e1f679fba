"""Shared by the agent tests: where the agent lives and how its zipapp is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = ROOT / "agent"


def build_pyz(output: Path, *extra: str) -> Path:
    """Build the zipapp exactly as the agent's README says."""
    subprocess.run(
        [sys.executable, str(AGENT_DIR / "build_zipapp.py"), "-o", str(output), *extra],
        check=True,
        capture_output=True,
    )
    return output
