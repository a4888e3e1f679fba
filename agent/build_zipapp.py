"""Build `portail-agent.pyz`, a single file a pharmacy runs with `python portail-agent.pyz`.

    python agent/build_zipapp.py -o dist/portail-agent.pyz                   # needs cryptography on the target
    python agent/build_zipapp.py -o dist/portail-agent.pyz --bundle          # cryptography inside, this platform
    python agent/build_zipapp.py -o dist/portail-agent-win.pyz --bundle \\
        --platform win_amd64 --python-version 3.9                           # for Windows, built anywhere

Compiled wheels cannot be imported from a zip: a bundled archive extracts them once into a
per-user cache folder named after the archive's digest (what shiv and pex do).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipapp
from pathlib import Path

HERE = Path(__file__).resolve().parent

BOOTSTRAP = '''\
"""Entry point of portail-agent.pyz: bundled dependencies first, then the command line."""
import hashlib
import os
import shutil
import sys
import zipfile


def _cache_root():
    if sys.platform.startswith("win"):
        return os.path.join(os.environ.get("LOCALAPPDATA") or os.path.expanduser("~"), "portail-agent")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "portail-agent")


def _use_bundled_dependencies():
    archive = os.path.dirname(os.path.abspath(__file__))
    if not zipfile.is_zipfile(archive):
        return
    with zipfile.ZipFile(archive) as bundle:
        names = [n for n in bundle.namelist() if n.startswith("_vendor/") and not n.endswith("/")]
        if not names:
            return
        with open(archive, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()[:16]
        target = os.path.join(_cache_root(), "vendor-" + digest)
        if not os.path.isdir(target):
            staging = target + ".%d" % os.getpid()
            for name in names:
                bundle.extract(name, staging)
            try:
                os.replace(os.path.join(staging, "_vendor"), target)
            except OSError:
                pass  # another run extracted it first
            shutil.rmtree(staging, ignore_errors=True)
    sys.path.insert(0, target)


_use_bundled_dependencies()
from portail_agent.cli import main  # noqa: E402

sys.exit(main())
'''


def build(output: Path, *, bundle: bool, platform: str | None, python_version: str | None) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "app"
        shutil.copytree(
            HERE / "src" / "portail_agent",
            root / "portail_agent",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        (root / "__main__.py").write_text(BOOTSTRAP, encoding="utf-8")
        if bundle:
            command = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--target",
                str(root / "_vendor"),
                "--only-binary=:all:",
                "cryptography>=42",
            ]
            if platform:
                command += ["--platform", platform]
            if python_version:
                command += ["--python-version", python_version]
            subprocess.run(command, check=True)  # noqa: S603 - fixed pip command
            for cache in (root / "_vendor").rglob("__pycache__"):
                shutil.rmtree(cache)
        output.parent.mkdir(parents=True, exist_ok=True)
        zipapp.create_archive(root, output, interpreter="/usr/bin/env python3", compressed=True)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="dist/portail-agent.pyz", type=Path)
    parser.add_argument("--bundle", action="store_true", help="put cryptography inside")
    parser.add_argument("--platform", help="wheel platform tag for --bundle, e.g. win_amd64")
    parser.add_argument("--python-version", help="target Python for --bundle, e.g. 3.9")
    args = parser.parse_args()
    path = build(
        args.output, bundle=args.bundle, platform=args.platform, python_version=args.python_version
    )
    print(path)


if __name__ == "__main__":
    main()
