"""Ready text for teacher-forced KD (``texts``): the standard-library set, the settings that
guard it, and what a run with it trains on and records."""

from __future__ import annotations

import ast
import json
import os

import pytest
from pydantic import ValidationError

from core.distill.config import DistillConfig
from core.errors import InputError
from core.recorder import NullRecorder
from tests.unit.test_distill_run import tiny_config


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_stdlib_texts_are_the_same_for_a_seed_and_differ_across_seeds(session_home):
    from core.distill.texts import stdlib_texts

    first = _records(stdlib_texts(40, seed=1))
    (session_home / "texts" / stdlib_texts(40, seed=1).name).unlink()
    assert _records(stdlib_texts(40, seed=1)) == first  # made again from scratch, same text
    assert _records(stdlib_texts(40, seed=2)) != first
    assert len(first) == 40 and len({r["text"] for r in first}) == 40


def test_stdlib_texts_are_half_code_half_reference_prose(session_home):
    from core.distill.texts import stdlib_texts

    records = _records(stdlib_texts(60, seed=0))
    code = [r for r in records if r["source"].startswith("stdlib:")]
    prose = [r for r in records if r["source"].startswith("pydoc:")]
    assert len(code) == len(prose) == 30
    assert all(r["text"].lstrip().startswith(("def ", "async def ")) for r in code)
    assert all(ast.parse(r["text"]) for r in code)  # dedented, valid Python
    assert all("\n" not in r["text"] and len(r["text"]) >= 160 for r in prose)


def test_every_token_of_ready_text_is_a_target(tiny_tokenizer):
    from core.distill.cache import tokenize_texts

    texts = ["def add(a, b):\n    return a + b\n", "x", "word " * 200]
    sequences = tokenize_texts(tiny_tokenizer, texts, max_len=32)
    assert len(sequences) == 2  # a one-token text has nothing to predict
    assert all(s.labels == s.input_ids for s in sequences)
    assert len(sequences[1].input_ids) == 32  # cut at max_len


def test_a_texts_file_needs_its_licence_and_a_topk_cache():
    with pytest.raises(ValidationError, match="texts_license"):
        DistillConfig(texts="data/my-texts.jsonl")
    with pytest.raises(ValidationError, match="topk"):
        DistillConfig(texts="python-stdlib", topk=0)
    assert DistillConfig(texts="data/my-texts.jsonl", texts_license="cc-by-4.0")


def test_a_texts_file_with_a_bad_line_is_named(tmp_path):
    from core.distill.texts import load_texts

    path = tmp_path / "texts.jsonl"
    path.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "body": "no text"}\n')
    with pytest.raises(InputError, match="line 2"):
        load_texts(path)


@pytest.fixture(scope="module")
def texts_run(tiny_teacher_dir, session_home):
    from core.distill.run import distill

    os.environ["STILLHOUSE_HOME"] = str(session_home)
    recorder = NullRecorder()
    config = tiny_config(
        tiny_teacher_dir,
        student_name="tiny-texts",
        texts="python-stdlib",
        max_texts=8,
        freeze_embeddings=True,
        max_steps=3,
    )
    return distill(config, recorder=recorder, progress=False), recorder


def test_a_run_with_ready_text_records_it_with_its_licence(texts_run):
    result, recorder = texts_run
    inputs = {ref.role: ref for ref in recorder.runs[result.run_id]["inputs"]}
    texts = inputs["texts"]
    assert texts.license == "psf-2.0" and texts.records == 8 and len(texts.sha256) == 64
    assert texts.path.endswith(
        "python-stdlib-" + ".".join(map(str, os.sys.version_info[:3])) + "-8-3.jsonl"
    )


def test_frozen_embeddings_stay_the_teachers(texts_run, tiny_teacher_dir):
    import torch
    from transformers import AutoModelForCausalLM

    result, _ = texts_run
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher_dir)
    student = AutoModelForCausalLM.from_pretrained(result.student_dir)
    assert torch.equal(student.get_input_embeddings().weight, teacher.get_input_embeddings().weight)
    # ... while the layers did train
    assert not torch.equal(
        student.model.layers[0].mlp.up_proj.weight, teacher.model.layers[0].mlp.up_proj.weight
    )


def test_the_licence_pre_flight_weighs_the_ready_texts_licence():
    from audit.licences.preflight import preflight
    from core.distill.config import load_preset
    from ui.services.distill import preflight_request

    stdlib = preflight_request(load_preset("quick", ["texts=python-stdlib"]), "commercial")
    assert stdlib.data_licenses == ["apache-2.0", "psf-2.0"]
    assert preflight(stdlib).verdict != "blocked"
    noncommercial = load_preset(
        "quick", ["texts=data/prompts/heldout.jsonl", "texts_license=cc-by-nc-4.0"]
    )
    result = preflight(preflight_request(noncommercial, "commercial"))
    assert result.verdict in ("blocked", "needs_review")
    assert any(f.license == "cc-by-nc-4.0" for f in result.findings)
