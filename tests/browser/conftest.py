"""One running app per session, driven by Debian's Chromium through Playwright.

The app is the real ``stillhouse app`` command in a subprocess, serving two tiny
random models (a 4-layer teacher, a 2-layer student) on a free loopback port,
with a temp ``STILLHOUSE_HOME`` and ledger. Screenshots go to
``tests/browser/screenshots/`` (gitignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ADMIN_PASSWORD = "browser-test-admin"
SCREENSHOTS = Path(__file__).parent / "screenshots"
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(
    url: str, process: subprocess.Popen, log: Path, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(
        f"the app did not serve {url} within {timeout} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> dict:
    """Start ``stillhouse app`` with tiny models; yield its url, ledger path and models."""
    from core.tiny import make_tiny_model, make_tokenizer

    home = tmp_path_factory.mktemp("browser-home")
    tokenizer = make_tokenizer()
    teacher = make_tiny_model(home / "tiny-teacher", n_layers=4, seed=1, tokenizer=tokenizer)
    student = make_tiny_model(home / "tiny-student", n_layers=2, seed=2, tokenizer=tokenizer)
    ledger = home / "ledger.duckdb"
    port = _free_port()
    env = {
        **os.environ,
        "STILLHOUSE_HOME": str(home),
        "STILLHOUSE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("STILLHOUSE_DB", None)
    log = home / "app.log"
    command = [
        sys.executable,
        "-m",
        "ui.cli",
        "app",
        "--teacher",
        str(teacher),
        "--student",
        str(student),
        "--db",
        str(ledger),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-distill",
        "--max-new-tokens",
        "24",
    ]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, process, log)
        yield {
            "url": url,
            "ledger": ledger,
            "home": home,
            "teacher": teacher.name,
            "student": student.name,
            "log": log,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_server):
    """A fresh browser session (its own Gradio session) on the app's first page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(app_server["url"])
    page.wait_for_selector("#arena-prompt textarea")
    yield page
    context.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def wait_text(page, selector: str, text: str, timeout: float = 30_000) -> None:
    """Wait until the element's visible text contains ``text``."""
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
        arg=[selector, text],
        timeout=timeout,
    )


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_admin_panel(page) -> None:
    if not page.locator("#admin-password input").is_visible():
        page.get_by_text("Admin", exact=True).first.click()


def sign_in(page, password: str = ADMIN_PASSWORD) -> None:
    open_admin_panel(page)
    page.locator("#admin-password input").fill(password)
    page.locator("#admin-sign-in").click()
    page.get_by_text("Signed in as admin").wait_for()
