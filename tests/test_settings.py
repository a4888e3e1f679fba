"""Production settings pass `check --deploy`; the dev secret refuses to run without DEBUG."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "p" * 20 + "-production-secret-" + "q" * 30,
    "KEY_ENCRYPTION_KEYS": "cHJvZHVjdGlvbi1rZXktZW5jcnlwdGlvbi1rZXktMzI=",
    "ALLOWED_HOSTS": "certificats.example.fr",
    "EMAIL_URL": "smtp://mail.example.fr:587",
    "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
}


def run_manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("TESTING", "SECRET_KEY", "DEBUG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean(tmp_path):
    """Clean once static files are collected; before, one error that says what to run."""
    env = {**PRODUCTION_ENV, "STATIC_ROOT": str(tmp_path / "static")}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "portal.E001" in result.stderr and "collectstatic --noinput" in result.stderr
    collected = run_manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_dev_secret_refused_without_debug():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_docker_image_collects_static_files_for_production():
    """With DEBUG=1 collectstatic writes no manifest, and the image's gunicorn (DEBUG=0) then
    refuses to start: the Dockerfile must collect with DEBUG=0."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(part for part in dockerfile.split("&&") if "collectstatic" in part)
    assert "DEBUG=0" in line and "DEBUG=1" not in line, line
