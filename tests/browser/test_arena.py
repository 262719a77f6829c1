"""Arena: one prompt, teacher and student answer side by side with their speed figures."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser
STATS = re.compile(r"TTFT [\d.]+ s · [\d.]+ tokens/s · \d+ tokens")


def test_arena_streams_both_models_with_speed_figures(page, app_server):
    page.locator("#arena-prompt textarea").fill("Hello! Who are you?")
    page.locator("#arena-send").click()
    for side in ("teacher", "student"):
        stats = page.locator(f"#arena-{side}-stats")
        stats.get_by_text("tokens/s").wait_for(timeout=60_000)
        page.wait_for_function(
            "id => /TTFT [\\d.]+ s/.test(document.querySelector(id).innerText)",
            arg=f"#arena-{side}-stats",
        )
        assert STATS.search(stats.inner_text()), stats.inner_text()
        chat = page.locator(f"#arena-{side}")
        assert chat.get_by_text("Hello! Who are you?").count() == 1
    screenshot(page, "arena")

    page.locator("#arena-clear").click()
    page.wait_for_function(
        "() => !document.querySelector('#arena-teacher').innerText.includes('Who are you')"
    )
    assert "Who are you" not in page.locator("#arena-student").inner_text()
