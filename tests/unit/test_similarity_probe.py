"""Probe prompts and answer collection (core.probe), with a tiny local model."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from core.generation import GenerationParams
from core.probe import collect_answers, load_prompts, prompt_set_hash


def test_the_default_probe_set_is_varied_and_well_formed():
    prompts = load_prompts()
    assert 30 <= len(prompts) <= 60
    assert len({p.prompt_id for p in prompts}) == len(prompts)
    assert (
        len({p.prompt_id.split("-")[0] for p in prompts}) >= 8
    )  # explain, howto, code, story, ...


def test_prompt_set_hash_is_stable_and_follows_the_text(tmp_path):
    prompts = load_prompts()
    assert prompt_set_hash(prompts) == prompt_set_hash(load_prompts())
    edited = [prompts[0].model_copy(update={"prompt": prompts[0].prompt + "!"}), *prompts[1:]]
    assert prompt_set_hash(edited) != prompt_set_hash(prompts)


@pytest.mark.parametrize(
    "content, needle",
    [
        (b'{"prompt_id": "a", "prompt": "caf\xe9"}\n', r"line 1: not valid UTF-8 \(byte 0xe9"),
        (b'{"prompt_id": "a", "prompt": "  "}\n', "non-empty prompt"),
        (b'{"prompt_id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n', "line 2: repeats"),
        (b'{"prompt_id": "a", "prompt": "x"}\n{oops\n', "line 2: not valid JSON"),
        (b"\n\n", "no prompts"),
    ],
)
def test_bad_prompt_files_are_refused(tmp_path, content, needle):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=needle):
        load_prompts(path)


def test_collect_answers_keeps_prompt_ids_in_order(tiny_model_dir):
    from core.backends.transformers_backend import TransformersBackend
    from core.models import resolve_model

    backend = TransformersBackend(resolve_model(str(tiny_model_dir)))
    prompts = [{"prompt_id": f"q{i}", "prompt": f"Say {i}"} for i in range(5)]
    params = GenerationParams(max_new_tokens=4, temperature=1.0, seed=3)
    rows = collect_answers(backend, prompts, params, batch_size=2)
    assert [r["prompt_id"] for r in rows] == ["q0", "q1", "q2", "q3", "q4"]
    assert all(isinstance(r["text"], str) for r in rows)
    assert collect_answers(backend, prompts, params, batch_size=2) == rows  # seeded: repeatable
    json.dumps(rows)


def test_probe_releases_each_model_after_answering(tiny_model_dir):
    import gc
    import threading

    from core.models import resolve_model
    from core.probe import probe_models

    def loaded() -> int:
        gc.collect()
        return sum(type(o).__name__ == "LlamaForCausalLM" for o in gc.get_objects())

    before, threads = loaded(), {t for t in threading.enumerate() if t.name.startswith("stillh")}
    spec = resolve_model(str(tiny_model_dir))
    prompts = load_prompts()[:2]
    answers = probe_models(
        spec, spec, [spec], prompts, GenerationParams(max_new_tokens=2), progress=False
    )
    assert len(answers.candidate) == 2 and answers.models["candidate"]["info"]["parameters"] > 0
    left = {t for t in threading.enumerate() if t.name.startswith("stillh")} - threads
    # <=: an earlier test's model may be freed meanwhile (an idle engine thread ends)
    assert loaded() <= before and not [t for t in left if t.is_alive()]
