"""Reports: an admin exports a PDF and the browser downloads a real PDF; the export is in the
ledger."""

from __future__ import annotations

import pytest

from tests.browser.conftest import open_tab, screenshot, sign_in, wait_text

pytestmark = pytest.mark.browser


def test_report_export_needs_admin(page, app_server):
    open_tab(page, "Reports")
    page.locator("#reports-export").click()
    page.locator("#reports-status").get_by_text("Nothing was exported").wait_for()


def test_admin_downloads_a_pdf_report(page, app_server, tmp_path):
    sign_in(page)
    open_tab(page, "Reports")
    subject = page.locator("#reports-subject input")
    page.wait_for_function("() => document.querySelector('#reports-subject input').value !== ''")
    assert app_server["student"] in subject.input_value() or "·" in subject.input_value()
    page.locator("#reports-export").click()
    page.locator("#reports-status").get_by_text("Exported").wait_for(timeout=60_000)
    link = page.locator("#reports-download a").first
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".pdf" and saved.read_bytes().startswith(b"%PDF-")
    screenshot(page, "reports")

    from audit.ledger.store import Store

    assert [r["format"] for r in Store(app_server["ledger"]).reports()] == ["pdf"]


def test_audit_verifies_the_ledger_and_lists_the_served_models(page, app_server):
    open_tab(page, "Audit")
    wait_text(page, "#audit-models", app_server["student"])
    page.locator("#audit-verify").click()
    page.locator("#audit-verify-result").get_by_text("hash chain intact").wait_for()
    screenshot(page, "audit")


def test_similarity_tab_shows_its_two_modes(page, app_server):
    open_tab(page, "Similarity")
    page.get_by_role("tab", name="Probe models").wait_for()
    page.get_by_role("tab", name="Score uploaded answers").wait_for()
    screenshot(page, "similarity")
