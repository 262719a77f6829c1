"""The first start in a browser: the page is up while the student distills, the Arena and the
Distill tab show its progress, and the Arena serves the student once saved, with no restart."""

from __future__ import annotations

import pytest

from tests.browser.conftest import open_tab, screenshot, wait_text
from tests.unit.test_app_first_start import started_first_run

pytestmark = pytest.mark.browser


@pytest.fixture
def first_start_url(tiny_teacher_dir, tmp_path):
    with started_first_run(tiny_teacher_dir, tmp_path, "browser-first") as (demo, url):
        yield url, demo.services


def test_the_student_arrives_while_the_page_is_open(browser, first_start_url):
    url, services = first_start_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(url)
        page.wait_for_selector("#arena-prompt textarea")
        assert services.student_job.view().state in ("idle", "running")
        wait_text(page, "#arena-student-waiting", "on its way")
        open_tab(page, "Distill")
        wait_text(page, "#distill-first-run", "distilling the student in the background")
        screenshot(page, "first-start-distill")
        open_tab(page, "Arena")
        # the timer refreshes the page: the note goes once the student is saved
        page.wait_for_function(
            "() => !(document.querySelector('#arena-student-waiting')?.innerText || '')"
            ".includes('on its way')",
            timeout=300_000,
        )
        assert services.models.student_ready()
        page.locator("#arena-prompt textarea").fill("Hello!")
        page.locator("#arena-send").click()
        page.locator("#arena-student-stats").get_by_text("tokens/s").wait_for(timeout=60_000)
        assert "on its way" not in page.locator("#arena-student").inner_text()
        screenshot(page, "first-start-arena")
    finally:
        context.close()
