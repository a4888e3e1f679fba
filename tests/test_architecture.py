"""The house rules that the folder layout alone cannot enforce: one direction of imports."""

from __future__ import annotations

import ast
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


def app_modules():
    """Every module of the apps and bench, migrations aside (generated, and history)."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_every_module_opens_with_the_line_that_says_its_job():
    silent = []
    for path in app_modules():
        source = path.read_text()
        if path.name == "__init__.py" and not source.strip():
            continue  # an empty package marker has no job of its own
        if not ast.get_docstring(ast.parse(source)):
            silent.append(str(path.relative_to(ROOT)))
    assert silent == []


# The pure X.509 toolbox is one job too, only a long one (parsing, building, checking).
LONG_ON_PURPOSE = {"certificates/x509.py"}
MAX_LINES = 600


def test_no_module_holds_several_jobs():
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in app_modules()
        if (lines := path.read_text().count("\n")) > MAX_LINES
        and str(path.relative_to(ROOT)) not in LONG_ON_PURPOSE
    }
    assert too_long == {}


def local_imports_without_reason(path: Path) -> list[str]:
    """Imports of the project's packages inside a function with no comment saying why (on
    the import, or on the line above the block of imports it belongs to)."""
    lines = path.read_text().splitlines()
    found = []
    for function in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if not module or module.split(".")[0] not in PACKAGES:
                continue
            first = node.lineno - 1
            while first > 0 and lines[first - 1].lstrip().startswith(("from ", "import ")):
                first -= 1  # the block of imports this one belongs to
            block = lines[max(first - 1, 0) : node.end_lineno]
            if not any("#" in line for line in block):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {module}")
    return found


def test_function_local_imports_say_why():
    # bench/ is exempt: its modules run as scripts and import the apps after
    # `bench.common.setup_django()` (bench/common.py says so), the reason for all of them.
    unexplained = [
        problem
        for path in app_modules()
        if path.parts[len(ROOT.parts)] != "bench"
        for problem in local_imports_without_reason(path)
    ]
    assert unexplained == []
