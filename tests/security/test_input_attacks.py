"""Bad input that used to get through (issue 14, problem 7), replayed."""

from __future__ import annotations

import time

import pytest

from core.distill.config import DistillConfig, load_preset
from core.errors import InputError
from core.recorder import NullRecorder
from tests.unit.report_helpers import make_ledger

EVIL = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.mark.parametrize(
    "setting, needle",
    [
        ("student_name=../../../tmp/x", "student_name"),
        ("student_name=/tmp/x", "student_name"),
        ("student_name=..", "student_name"),
        ("lr=inf", "lr"),
        ("lr=.nan", "lr"),
        ("temperature=-.inf", "temperature"),
    ],
)
def test_unsafe_or_non_finite_settings_are_refused(setting, needle):
    with pytest.raises(InputError) as refused:
        load_preset("quick", [setting])
    assert needle in refused.value.message


def test_more_layers_than_the_teacher_has_is_refused_before_any_work(tiny_teacher_dir):
    from core.distill.run import distill

    config = DistillConfig(
        teacher=str(tiny_teacher_dir),
        student_name="too-deep",
        prune={"layers": 100},
        max_prompts=4,
    )
    recorder = NullRecorder()
    started = time.perf_counter()
    with pytest.raises(InputError, match="more than the teacher's 4 layers"):
        distill(config, recorder=recorder, progress=False)
    assert not recorder.runs and time.perf_counter() - started < 30
    with pytest.raises(InputError, match=r"keep_layers: indices must be in 0\.\.3"):
        deep = config.model_copy(
            update={
                "prune": config.prune.model_copy(update={"layers": None, "keep_layers": [0, 7]})
            }
        )
        distill(deep, progress=False)


def test_deeply_nested_jsonl_is_a_clean_error(tmp_path):
    from audit.ledger.store import Store

    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(InputError, match="line 1"):
        Store(tmp_path / "ledger.duckdb").register_dataset(deep, name="deep", license="mit")
    from core.distill.data import load_prompts

    with pytest.raises(InputError, match="nested deeper"):
        load_prompts(deep)


@pytest.mark.parametrize("fmt", ["html", "pdf"])
def test_a_dollar_in_a_dataset_name_does_not_break_export(tmp_path, fmt):
    """matplotlib read '$5 and $10' as mathtext and the lineage picture crashed the export."""
    from audit.reports.export import build_report, export_report

    store, run_id = make_ledger(tmp_path, prompt_name="prices $5 and $10 ^_^ $\\frac{")
    out = export_report(build_report(store, run_id=run_id), fmt, tmp_path / f"r.{fmt}")
    assert out.stat().st_size > 1000


def test_a_dollar_in_a_model_name_does_not_break_the_rating_plot(tmp_path):
    from core.arena import Rating
    from core.arena_plot import plot_ratings

    rows = [
        Rating(model="$x^2$ {bad", rating=1010, lower=990, upper=1030, battles=5, rank=1),
        Rating(model="cost $5", rating=990, lower=970, upper=1010, battles=5, rank=2),
    ]
    out = plot_ratings(rows, tmp_path / "ratings.png")
    assert out.stat().st_size > 1000


def test_hostile_model_names_are_escaped_in_the_page_header(tiny_model_dir, tmp_path):
    """A model folder named like markup used to run script in every visitor's browser."""
    import shutil

    import gradio as gr

    from ui.app import AppConfig, build_app

    link = tmp_path / EVIL  # a local folder's name is the model's name
    shutil.copytree(tiny_model_dir, link)
    (link / "stillhouse.json").unlink()
    config = AppConfig(
        teacher=str(link), student=str(link), title=EVIL, db_path=str(tmp_path / "l.duckdb")
    )
    demo = build_app(config)
    header = next(b for b in demo.blocks.values() if isinstance(b, gr.HTML)).value
    assert "<img" not in header and header.count("&lt;img") == 3
