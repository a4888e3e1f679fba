"""Every `sh` block of README.md and docs/*.md runs, as written, against `make run`'s data.

The repository is copied to a temporary folder (sharing this `.venv`), `make demo` builds the
demo data set there exactly as `make run` does (SQLite, demo PKI, `.env`), and a live portal
(`manage.py runserver`, as `make run` starts it) answers on a free port. Then the `sh` blocks
of each file run in order in one bash (so variables and files carry from block to block, as
for a reader typing them), from the copy's root, with `.venv/bin` first on `PATH` (`python`
is the project's). Two adjustments, both said here so nobody is surprised:

- `127.0.0.1:8000` / `localhost:8000` in a block is the live portal's port;
- `curl` fails on HTTP errors (`--fail-with-body`): a 4xx/5xx answer fails the block.

A block that cannot run here is marked just above it, with its reason:
`<!-- docs-test: skip (reason) -->`. `<!-- docs-test: postgres -->` runs a block only when
PostgreSQL answers on 127.0.0.1:5432, with `DATABASE_URL` set to a scratch database. Such
markers must stay few (see MAX_SKIPPED) and each must say why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.common import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "shell"}
MAX_SKIPPED = 8  # a handful of blocks need Docker or outside hosts; not more
MARKER = re.compile(r"<!--\s*docs-test:\s*(skip|postgres)\s*(?:\((.*)\))?\s*-->")
FENCE = re.compile(r"^(\s*)```(.*)$")
PORT_IN_DOCS = re.compile(r"(127\.0\.0\.1|localhost):8000\b")
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_SCRATCH_DB = "portal_docs_test"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "var", ".env", "test-artifacts", "__pycache__", "*.pyc", "node_modules"
)


@dataclass
class Block:
    path: Path
    line: int  # line of the opening fence, 1-based
    language: str
    body: str
    marker: str = ""  # "", "skip" or "postgres"
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.language.split()[0].lower() in SHELL_LANGUAGES if self.language else False


def extract_blocks(path: Path) -> list[Block]:
    """Fenced blocks with their language and the docs-test marker on the line above, if any."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, language = opening.group(1), opening.group(2).strip()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not re.match(rf"^{indent}```\s*$", lines[index]):
            body.append(lines[index][len(indent) :])
            index += 1
        block = Block(path, start + 1, language, "\n".join(body) + "\n")
        above = start - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        found = MARKER.search(lines[above]) if above >= 0 else None
        if found:
            block.marker, block.reason = found.group(1), (found.group(2) or "").strip()
        blocks.append(block)
        index += 1
    return blocks


def shell_blocks() -> list[Block]:
    return [block for path in DOCUMENTS for block in extract_blocks(path) if block.is_shell]


def test_skipped_blocks_are_few_and_justified():
    skipped = [block for block in shell_blocks() if block.marker == "skip"]
    unexplained = [block.where for block in skipped if len(block.reason) < 10]
    assert not unexplained, f"docs-test: skip needs a reason, in parentheses: {unexplained}"
    assert len(skipped) <= MAX_SKIPPED, (
        f"{len(skipped)} blocks are skipped (at most {MAX_SKIPPED}): "
        + ", ".join(f"{block.where} ({block.reason})" for block in skipped)
    )


def test_demo_commands_use_one_wording():
    """`make run` writes `.env` (DEBUG=1): demo commands read `.venv/bin/python manage.py ...`,
    the words the Makefile prints, never with a `DEBUG=1` prefix that suggests it is needed."""
    stray = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in [*DOCUMENTS, ROOT / "Makefile"]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "DEBUG=1 .venv/bin/python manage.py" in line
        or ("@echo" in line and "$(BIN)/python manage.py" in line)
    ]
    assert not stray, (
        f"write `.venv/bin/python manage.py ...` (make run's .env sets DEBUG): {stray}"
    )


def test_every_shell_block_is_tagged():
    """A command block without a language would silently escape this test."""
    untagged = [
        block.where
        for block in (b for path in DOCUMENTS for b in extract_blocks(path))
        if not block.language and re.search(r"(manage\.py|curl |make |openssl )", block.body)
    ]
    assert not untagged, f"tag these command blocks ```sh: {untagged}"


# --------------------------------------------------------------------------- the live run


def _postgres_ready() -> bool:
    return shutil.which("psql") is not None and (
        subprocess.run(
            ["psql", PG_ADMIN_URL, "-tAc", "SELECT 1"], capture_output=True, timeout=10
        ).returncode
        == 0
    )


def _clean_environment(copy: Path) -> dict[str, str]:
    """A reader's shell: none of the test suite's variables, the project's venv first."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "DJANGO_", "CELERY_"))
        and key
        not in {
            "TESTING",
            "DATABASE_URL",
            "CACHE_URL",
            "SECRET_KEY",
            "KEY_ENCRYPTION_KEYS",
            "DEBUG",
        }
    }
    environment["PATH"] = f"{copy / '.venv' / 'bin'}{os.pathsep}{environment.get('PATH', '')}"
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


@pytest.fixture(scope="module")
def demo_portal(tmp_path_factory):
    """A copy of the repository with `make demo`'s data and a live portal on a free port."""
    for tool in ("make", "bash", "curl", "jq", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: the documented commands need it")
    copy = tmp_path_factory.mktemp("docs") / "portal"
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORE, symlinks=True)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    environment = _clean_environment(copy)
    demo = subprocess.run(
        ["make", "demo"], cwd=copy, env=environment, capture_output=True, text=True, timeout=600
    )
    assert demo.returncode == 0, f"make demo failed:\n{demo.stdout}\n{demo.stderr}"
    port = free_port()
    log = (copy / "runserver.log").open("w")
    server = subprocess.Popen(
        [".venv/bin/python", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=copy,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/schema/", timeout=5)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(
                        f"the portal did not start:\n{(copy / 'runserver.log').read_text()}"
                    )
                time.sleep(0.3)
        yield copy, port, environment
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _script(blocks: list[Block], port: int, database_url: str = "") -> str:
    parts = [
        "set -eE -o pipefail",
        "trap 'echo \"DOCS-TEST-FAILED at ${__where} (script line $LINENO)\" >&2' ERR",
        'curl() { command curl --fail-with-body "$@"; }',
    ]
    for block in blocks:
        body = PORT_IN_DOCS.sub(lambda m: f"{m.group(1)}:{port}", block.body)
        parts.append(f"__where='{block.where}'")
        parts.append(f"echo '>>> {block.where}'")
        if block.marker == "postgres":
            parts.append(f"export DATABASE_URL='{database_url}'")
        parts.append(body)
        if block.marker == "postgres":
            parts.append("unset DATABASE_URL")
    parts.append("echo '>>> all blocks ran'")
    return "\n".join(parts) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_document_blocks_run(document, demo_portal):
    copy, port, environment = demo_portal
    blocks = [block for block in extract_blocks(document) if block.is_shell]
    database_url = ""
    if any(block.marker == "postgres" for block in blocks):
        if _postgres_ready():
            for command in ("dropdb --if-exists", "createdb"):
                subprocess.run(
                    [*command.split(), "-h", "127.0.0.1", "-U", "postgres", PG_SCRATCH_DB],
                    check=True,
                    capture_output=True,
                )
            database_url = f"postgres://postgres@127.0.0.1:5432/{PG_SCRATCH_DB}"
        else:  # CI on a machine with only the embedded default
            blocks = [block for block in blocks if block.marker != "postgres"]
    runnable = [block for block in blocks if block.marker != "skip"]
    if not runnable:
        pytest.skip(f"{document.name} has no runnable sh block")
    script = _script(runnable, port, database_url)
    (copy / f"docs-test-{document.stem}.sh").write_text(script, encoding="utf-8")
    result = subprocess.run(
        ["bash", f"docs-test-{document.stem}.sh"],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        failed = re.findall(r"DOCS-TEST-FAILED at (\S+)", result.stderr)
        where = failed[-1] if failed else "(before the first block)"
        block = next((b for b in runnable if b.where == where), None)
        pytest.fail(
            f"The sh block at {where} failed (exit {result.returncode}).\n"
            + (f"--- block ---\n{block.body}" if block else "")
            + f"--- stdout (tail) ---\n{result.stdout[-3000:]}\n"
            f"--- stderr (tail) ---\n{result.stderr[-3000:]}"
        )
    assert ">>> all blocks ran" in result.stdout, result.stdout[-3000:]
