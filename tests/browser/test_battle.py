"""A blind battle from prompt to vote to reveal, and the vote on the leaderboard."""

from __future__ import annotations

import pytest

from tests.browser.conftest import open_tab, screenshot, wait_text

pytestmark = pytest.mark.browser


def test_blind_battle_vote_reveals_and_reaches_the_leaderboard(page, app_server):
    open_tab(page, "Battle")
    page.locator("#battle-prompt textarea").fill("Name three primary colours.")
    page.locator("#battle-start").click()
    vote = page.locator("#vote-left")
    vote.and_(page.locator(":enabled")).wait_for(timeout=60_000)
    # Both answers are shown together, and nobody is named before the vote.
    assert page.locator("#battle-a").get_by_text("Name three primary colours.").count() == 1
    assert page.locator("#battle-b").get_by_text("Name three primary colours.").count() == 1
    for locator in ("#battle-a", "#battle-b", "#battle-reveal"):
        shown = page.locator(locator).inner_text()
        assert app_server["teacher"] not in shown and app_server["student"] not in shown
    screenshot(page, "battle-before-vote")

    vote.click()
    reveal = page.locator("#battle-reveal")
    reveal.get_by_text("Model A").wait_for()
    text = reveal.inner_text()
    assert app_server["teacher"] in text and app_server["student"] in text
    assert "recorded" in text.lower()
    assert page.locator("#vote-right").is_disabled()
    screenshot(page, "battle")

    open_tab(page, "Leaderboard")
    page.locator("#leaderboard-refresh").click()
    # The tab's select and the Refresh click both render; wait for the text, not the spinner.
    wait_text(page, "#leaderboard-counts", "1 vote recorded")
    screenshot(page, "leaderboard")
