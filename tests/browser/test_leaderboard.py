"""The Leaderboard with imported battle data: style-controlled column and category filter."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys

import pytest

from tests.browser.conftest import ROOT, open_tab, screenshot, wait_text

pytestmark = pytest.mark.browser
DOCS_IMAGE = ROOT / "docs" / "images" / "leaderboard-style-control.png"


def synthetic_battles(teacher: str, n: int = 3000, seed: int = 0) -> list[dict]:
    """Battles among the served teacher and three others, where longer answers win more."""
    rng = random.Random(seed)
    strength = {teacher: 0.0, "student-57m": -0.35, "verbose-1b": -0.2, "terse-1b": -0.1}
    wordiness = {teacher: 1.0, "student-57m": 0.9, "verbose-1b": 2.2, "terse-1b": 0.6}
    names = list(strength)
    out = []
    for i in range(n):
        a, b = rng.sample(names, 2)
        la = int(200 * wordiness[a] * rng.lognormvariate(0, 0.4))
        lb = int(200 * wordiness[b] * rng.lognormvariate(0, 0.4))
        z = strength[a] - strength[b] + 1.2 * (la - lb) / (la + lb)
        winner = "model_a" if rng.random() < 1 / (1 + 2.718281828**-z) else "model_b"
        meta = {
            "sum_user_tokens": 20,
            "sum_assistant_a_tokens": la,
            "sum_assistant_b_tokens": lb,
            "turns": 1,
        }
        for side in ("a", "b"):  # markdown drawn apart from length: its effect is separable
            meta[f"header_count_{side}"] = {"h1": rng.randint(0, 2)}
            meta[f"list_count_{side}"] = {"ordered": 0, "unordered": rng.randint(0, 6)}
            meta[f"bold_count_{side}"] = {"**": rng.randint(0, 4), "__": 0}
        category = rng.choice(["coding", "math", "creative writing", "advice", "factual QA"])
        out.append(
            {
                "question_id": f"q{i}",
                "model_a": a,
                "model_b": b,
                "winner": winner,
                "turn": 1,
                "anony": True,
                "conv_metadata": meta,
                "category": category,
            }
        )
    return out


def test_leaderboard_shows_style_control_and_filters_by_category(page, app_server, tmp_path):
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(synthetic_battles(app_server["teacher"])))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "arena",
            "import",
            str(path),
            "--name",
            "synthetic",
            "--license",
            "cc0-1.0",
            "--db",
            str(app_server["ledger"]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    open_tab(page, "Leaderboard")
    page.locator("#leaderboard-refresh").click()
    wait_text(page, "#leaderboard-style", "Style coefficients", timeout=60_000)
    table = page.locator("#leaderboard-table").inner_text()
    assert "Style-controlled" in table and "verbose-1b" in table
    wait_text(page, "#leaderboard-counts", f"{app_server['teacher']} = 1000")
    page.locator("#leaderboard-category input").click()
    page.get_by_role("option", name="coding", exact=False).first.click()
    wait_text(page, "#leaderboard-counts", "Category **coding**".replace("**", ""))
    shot = screenshot(page, "leaderboard-style-control")
    if os.environ.get("STILLHOUSE_DOCS_IMAGES") == "1":  # refresh the picture in docs/arena.md
        shutil.copyfile(shot, DOCS_IMAGE)
