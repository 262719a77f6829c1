"""Admin-only tabs refuse without a login and do nothing; the password unlocks them."""

from __future__ import annotations

import pytest

from tests.browser.conftest import open_admin_panel, open_tab, screenshot, sign_in

pytestmark = pytest.mark.browser


def _distill_runs(ledger) -> int:
    from audit.ledger.store import Store

    return len(Store(ledger).runs(kind="distill")) if ledger.exists() else 0


def test_distill_refuses_without_admin_login(page, app_server):
    open_tab(page, "Distill")
    notice = page.get_by_text("Admin login required.").first
    notice.wait_for()
    page.locator("#distill-verdict").get_by_text(
        "Pre-flight:"
    ).wait_for()  # the pre-flight shows before Start
    page.locator("#distill-start").click()
    page.locator("#distill-status").get_by_text("Nothing was started").wait_for()
    assert _distill_runs(app_server["ledger"]) == 0
    screenshot(page, "distill")


def test_wrong_password_is_refused_and_the_right_one_unlocks(page, app_server):
    open_admin_panel(page)
    page.locator("#admin-password input").fill("not-the-password")
    page.locator("#admin-sign-in").click()
    page.locator("#admin-status").get_by_text("Wrong password").wait_for()
    sign_in(page)
    open_tab(page, "Distill")
    page.get_by_text("Admin login required.").first.wait_for(state="hidden")
