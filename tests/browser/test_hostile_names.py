"""Hostile names in every field a visitor or admin sees (issue 14, problem 7), in a real
Chromium: no script runs, no dialog opens, and each name shows as the text it is.

The served models' folders, the app's title, and everything the ledger takes as free text
(model and dataset names, licences and sources, run kinds, findings, override reasons,
report subjects, battle prompts) carry markup; the test walks every tab, opens the dropdowns,
plays a battle to its reveal and signs in as admin to see the admin-only views.
"""

from __future__ import annotations

import json

import pytest

# ``browser`` is tests/browser/conftest.py's session fixture: importing it here would make a
# second Playwright in the same thread, which the sync API refuses.
from tests.browser.conftest import open_tab, sign_in, wait_text

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

IMG = "<img src=x onerror=\"window.__pwned='img';alert(1)\">"
SCRIPT = "\"><script>window.__pwned='script'</script>"
TOGGLE = "<details open ontoggle=window.__pwned='toggle'>"
LINK = "[click](javascript:window.__pwned='link') $x$"
PAYLOADS = (IMG, SCRIPT, TOGGLE, LINK)
ADMIN = "browser-test-admin"


def _populate(store, model_dir, data_file) -> None:
    """Every free-text field of the ledger that a tab renders, with markup in it."""
    from audit.ledger.votes import VotePolicy, record_vote
    from core.recorder import ArtifactRef

    for i, name in enumerate(PAYLOADS):
        store.register_model(
            name, license=SCRIPT, path=model_dir, source=IMG, weights_sha256=str(i)
        )
    store.register_dataset(data_file, name=IMG, license=TOGGLE, source=SCRIPT)
    inputs = [
        ArtifactRef(role="teacher", kind="model", name=IMG, license=SCRIPT),
        ArtifactRef(role="train_data", kind="dataset", name=SCRIPT, license=TOGGLE),
    ]
    run_id = store.start_run(
        TOGGLE, config={"student_name": IMG}, seed=0, code_version=SCRIPT, inputs=inputs
    )
    outputs = [ArtifactRef(role="student", kind="model", name=TOGGLE, license=LINK)]
    store.finish_run(run_id, outputs=outputs, metrics={IMG: 1}, status=SCRIPT)
    finding = {"severity": "block", "license": IMG, "clause": SCRIPT, "message": TOGGLE}
    store.record_preflight(
        {"verdict": "blocked", "findings": [finding]}, run_id=run_id, override_reason=LINK + IMG
    )
    store.record_report(format="html", model=SCRIPT, run_id=run_id, details={IMG: SCRIPT})
    policy = VotePolicy(max_votes_per_session_per_day=None, max_votes_per_ip_per_day=None, salt="s")
    for i in range(6):
        vote = {
            "battle_id": f"b{i}",
            "model_a": PAYLOADS[i % 2],
            "model_b": PAYLOADS[2 + i % 2],
            "winner": "model_a" if i % 3 else "tie",
            "session_id": f"s{i}",
            "ip": "10.0.0.1",
            "prompt": IMG + SCRIPT,
            "response_a": TOGGLE,
            "response_b": LINK,
        }
        record_vote(store, vote, policy)


@pytest.fixture(scope="module")
def hostile_app(tiny_tokenizer, tmp_path_factory):
    from core.tiny import make_tiny_model
    from tests.security.conftest import launched_app

    folder = tmp_path_factory.mktemp("hostile")
    teacher = make_tiny_model(
        folder / IMG.replace("/", ""), n_layers=4, seed=1, tokenizer=tiny_tokenizer
    )
    student = make_tiny_model(folder / TOGGLE, n_layers=2, seed=2, tokenizer=tiny_tokenizer)
    data = folder / "data.jsonl"
    data.write_text(json.dumps({"prompt": SCRIPT, "response": IMG}) + "\n")
    with launched_app(
        teacher, student, folder, title=SCRIPT + IMG, max_new_tokens=16, admin_password=ADMIN
    ) as demo:
        _populate(demo.services.store, teacher, data)
        yield demo


@pytest.fixture
def watched(browser, hostile_app):  # noqa: F811  # the imported fixture
    """A page on the hostile app that records every dialog (and dismisses it)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(hostile_app.url + "/")
    page.wait_for_selector("#arena-prompt textarea")
    yield page, dialogs
    context.close()


def clean(page, dialogs: list[str], where: str) -> None:
    page.wait_for_timeout(300)  # let any injected handler fire
    assert page.evaluate("() => window.__pwned") is None, f"script ran on {where}"
    assert dialogs == [], f"a dialog opened on {where}: {dialogs}"


def open_dropdowns(page) -> int:
    """Open every dropdown on the visible tab (its options render then); how many."""
    boxes = page.locator("input[role=combobox]:visible")
    for index in range(boxes.count()):
        boxes.nth(index).click()
        page.wait_for_timeout(200)
        page.keyboard.press("Escape")
    return boxes.count()


def test_no_hostile_name_runs_script_anywhere(watched, hostile_app):
    page, dialogs = watched
    header = page.locator(".sh-header").inner_text()
    assert IMG in header and TOGGLE in header and SCRIPT in header  # shown as text
    clean(page, dialogs, "the header")

    page.locator("#arena-prompt textarea").fill(IMG + SCRIPT)
    page.locator("#arena-send").click()
    wait_text(page, "#arena-teacher-stats", "tokens/s", timeout=60_000)
    clean(page, dialogs, "the arena")

    open_tab(page, "Battle")
    page.locator("#battle-prompt textarea").fill(TOGGLE + LINK)
    page.locator("#battle-start").click()
    page.locator("#vote-left").and_(page.locator(":enabled")).wait_for(timeout=60_000)
    page.locator("#vote-left").click()
    wait_text(page, "#battle-reveal", "Model A")
    assert TOGGLE in page.locator("#battle-reveal").inner_text()
    clean(page, dialogs, "the battle reveal")

    open_tab(page, "Leaderboard")
    wait_text(page, "#leaderboard-counts", "vote")
    open_dropdowns(page)
    clean(page, dialogs, "the leaderboard")

    sign_in(page, ADMIN)
    opened = {}
    for tab in ("Audit", "Similarity", "Reports", "Distill"):
        open_tab(page, tab)
        page.wait_for_timeout(1500)  # the tab's select handler fills tables and lists
        opened[tab] = open_dropdowns(page)
        clean(page, dialogs, f"the {tab} tab")
    assert all(opened.values()), opened
    open_tab(page, "Audit")
    page.locator("#audit-verify").click()
    page.locator("#audit-verify-result").get_by_text("hash chain intact").wait_for()
    body = page.locator("body").inner_text()
    assert LINK + IMG in body or "javascript:" in body  # the override reason, as text
    clean(page, dialogs, "the audit tables")
