"""The house rules that the folder layout alone cannot enforce: one direction of imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("portal", "finess", "officines", "certificates", "notifications", "ops", "psc")
PACKAGES += ("console", "bench")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (make install)"
)


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layers_contract_holds():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "message"),
    [
        # The kernel reaching a domain app, inside a function as the old code did.
        (
            "portal/tenancy.py",
            "def _planted():\n    from officines.models import Officine\n",
            "portal is not allowed to import officines",
        ),
        # A domain app reaching the one above it.
        ("certificates/lifecycle.py", "import notifications.events\n", "certificates is not"),
        # A domain app reaching the pages on top.
        ("officines/selectors.py", "from console import dashboard\n", "officines is not"),
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path, module, planted, message):
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + "\n\n" + planted)

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 1 broken" in result.stdout
    assert message in result.stdout
    dotted = module.removesuffix(".py").replace("/", ".")
    assert dotted in result.stdout  # names the module that broke it
