"""The Distill tab's licence-facts fields reach the pre-flight through the config's preflight:
block, and a bad fact is refused before anything runs."""

from __future__ import annotations

import pytest

from core.errors import InputError
from ui.services.distill import distill_config, preflight_request, preflight_view
from ui.tabs.distill import _overrides

FORM = ["smollm2-135m-instruct", "", "prune", 8, None, "data/prompts/default.jsonl"]


def view(license_id: str, *facts, use: str = "commercial"):
    overrides = _overrides(*FORM, license_id, 0, *facts)
    config = distill_config("quick", overrides)
    return config, preflight_view(preflight_request(config, use))


def test_facts_from_the_form_are_the_configs_preflight_block():
    config, _ = view("apache-2.0", 20000, "company", "de", "apache-2.0", "llm", True, False)
    facts = config.preflight
    assert (facts.mau, facts.entity, facts.region, facts.release_license) == (
        20000,
        "company",
        "DE",
        "apache-2.0",
    )
    assert facts.hosted and not facts.teacher_multimodal
    empty, _ = view("apache-2.0", None, "", "", "", "llm", False, False)
    assert empty.preflight.mau is None and empty.preflight.release_license is None


def test_the_release_licence_changes_the_verdict_shown():
    _, without = view("cc-by-nc-4.0", None, "", "", "", "llm", False, False, use="research")
    _, released = view(
        "cc-by-nc-4.0", None, "", "", "apache-2.0", "llm", False, False, use="research"
    )
    assert without.verdict != "needs_review"
    assert released.verdict == "needs_review"
    assert any("apache-2.0" in row[3] for row in released.findings)
    assert all(row[4] in ("yes", "NO") for row in released.findings)
    assert "Due on release" in released.obligations


def test_a_bad_region_is_refused_before_anything_runs():
    with pytest.raises(InputError, match="region"):
        view("apache-2.0", None, "", "XX", "", "llm", False, False)
