"""Browser test helpers: Chromium, a page on the live server, logging in through the pages."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from django.urls import reverse

from portal.management.commands.demo_totp import current_code
from tests.factories import PASSWORD, TOTP_SECRET

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per module, closed with it (its event loop must not outlive the
    browser tests: Django refuses ORM calls from a thread that runs one)."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium); "
            "browser builds are never downloaded"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()


@pytest.fixture
def page_for(chromium, live_server):
    """A fresh French-speaking browser context per person; closed after the test."""
    contexts = []

    def open_page(*, phone: bool = False):
        options = {"locale": "fr-FR", "accept_downloads": True, "base_url": live_server.url}
        if phone:
            options.update(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        context = chromium.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: record_console(errors, msg, page))
        page.js_errors = errors
        return page

    yield open_page
    for context in contexts:
        context.close()


def log_in(page, email: str, *, totp: bool) -> None:
    page.goto(reverse("account_login"))
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    if totp:
        page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
        # A code is valid in its 30-second window only: never type one about to expire.
        remaining = 30 - time.time() % 30
        if remaining < 3:
            page.wait_for_timeout((remaining + 0.5) * 1000)
        page.fill("input[name=code]", current_code(TOTP_SECRET))
        page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


TIMEOUT_MS = 15_000


def record_console(errors: list[str], message, page=None) -> None:
    """Console errors fail the walk (a missing favicon included)."""
    if message.type == "error":
        where = (message.location or {}).get("url", "")
        errors.append(f"{message.text} ({where}) on {page.url if page else ''}")
