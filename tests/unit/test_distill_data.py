"""Prompt files, teacher data and the top-k cache on tiny models."""

from __future__ import annotations

import json
import re
import resource
import signal

import pytest

from core.distill.cache import DistillDataset, build_topk_cache, collate, tokenize_records
from core.distill.config import DistillConfig
from core.distill.data import load_prompts, read_teacher_data, teacher_data
from core.distill.progress import Progress
from core.errors import InputError, NotFoundError, StillhouseError
from core.generation import GenerationParams


def test_missing_empty_and_bad_prompt_files_are_clear_errors(tmp_path):
    with pytest.raises(NotFoundError, match="not found"):
        load_prompts(tmp_path / "none.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="holds no records"):
        load_prompts(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"prompt": "broken"\n')
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        load_prompts(bad)
    blank = tmp_path / "blank.jsonl"
    blank.write_text('{"prompt": "fine"}\n{"prompt": "  "}\n')
    with pytest.raises(InputError, match="line 2: has no non-empty"):
        load_prompts(blank)


def test_default_prompt_and_heldout_sets_load():
    from core.distill.config import data_path
    from core.distill.data import load_heldout

    prompts = load_prompts(data_path("data/prompts/default.jsonl"))
    assert len(prompts) >= 200 and len({p["id"] for p in prompts}) == len(prompts)
    assert len(load_heldout(data_path("data/prompts/heldout.jsonl"))) >= 30


@pytest.fixture(scope="module")
def tiny_backend(tiny_teacher_dir):
    from core.backends import backend_for
    from core.models import resolve_model

    return backend_for(resolve_model(str(tiny_teacher_dir)))


def test_teacher_data_is_hashed_per_record_and_reused(tiny_backend, tmp_path):
    prompts = [{"id": f"p{i}", "prompt": f"Say {i}."} for i in range(5)]
    params = GenerationParams(max_new_tokens=6)

    def generate():
        return teacher_data(
            tiny_backend,
            prompts,
            params,
            teacher_name="tiny",
            teacher_sha256="abc",
            batch_size=2,
            progress=Progress(False),
            folder=tmp_path,
        )

    first = generate()
    assert first.records == 5 and not first.reused
    records = read_teacher_data(first.path)
    assert [r["id"] for r in records] == [p["id"] for p in prompts]
    assert all(len(r["sha256"]) == 64 and r["teacher"] == "tiny" for r in records)
    again = generate()
    assert again.reused and again.sha256 == first.sha256
    # A tampered record is caught.
    lines = first.path.read_text().splitlines()
    record = json.loads(lines[0])
    record["response"] += " (edited)"
    first.path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    with pytest.raises(StillhouseError, match="record 1 fails its SHA-256"):
        read_teacher_data(first.path)


@pytest.fixture(scope="module")
def teacher_and_sequences(tiny_teacher_dir):
    from core.models import load_causal_lm, resolve_model

    model, tokenizer = load_causal_lm(resolve_model(str(tiny_teacher_dir)))
    records = [
        {"prompt": f"Tell me about {w}.", "response": f"{w} is a word. " * (i + 1)}
        for i, w in enumerate(["red", "blue", "green", "fox", "dog"])
    ]
    return model, tokenizer, tokenize_records(tokenizer, records, max_len=40, train_on_prompt=False)


def test_answer_only_labels_skip_the_prompt(teacher_and_sequences):
    _, tokenizer, sequences = teacher_and_sequences
    seq = sequences[0]
    first_label = next(i for i, v in enumerate(seq.labels) if v != -100)
    assert "assistant" in tokenizer.decode(seq.input_ids[:first_label])
    assert tokenizer.decode(seq.input_ids[first_label:]).startswith("red is a word")


def test_no_eos_after_an_answer_cut_by_max_new_tokens(teacher_and_sequences):
    _, tokenizer, _ = teacher_and_sequences
    records = [
        {"prompt": "Count.", "response": "one two three", "finish_reason": "stop"},
        {"prompt": "Count.", "response": "one two three", "finish_reason": "length"},
    ]
    ended, cut = tokenize_records(tokenizer, records, max_len=64, train_on_prompt=False)
    assert ended.input_ids[-1] == tokenizer.eos_token_id
    assert cut.input_ids[-1] != tokenizer.eos_token_id
    assert tokenizer.eos_token_id not in cut.labels
    assert ended.input_ids[:-1] == cut.input_ids


def test_plain_share_trains_that_share_of_records_as_plain_text(teacher_and_sequences):
    """plain_share=0.5 turns half the records (seeded) into plain prose without the chat
    template, every token a target; the other half stay chat turns with answer-only labels."""
    _, tokenizer, _ = teacher_and_sequences
    records = [{"prompt": f"Say {i}.", "response": f"I say {i}."} for i in range(10)]
    mixed = tokenize_records(
        tokenizer, records, max_len=64, train_on_prompt=False, plain_share=0.5, seed=3
    )
    plain = [s for s in mixed if -100 not in s.labels]
    assert len(plain) == 5
    for seq in plain:
        assert re.fullmatch(r"Say (\d)\.\n\nI say \1\.", tokenizer.decode(seq.input_ids))
        assert seq.labels == seq.input_ids
    chat = [s for s in mixed if -100 in s.labels]
    assert all("assistant" in tokenizer.decode(s.input_ids) for s in chat)
    again = tokenize_records(
        tokenizer, records, max_len=64, train_on_prompt=False, plain_share=0.5, seed=3
    )
    assert [s.input_ids for s in again] == [s.input_ids for s in mixed]


def test_the_loss_covers_answer_tokens_only(teacher_and_sequences, tmp_path):
    """Changing the teacher's rows on prompt positions leaves the training loss unchanged;
    changing them on answer positions does not."""
    import torch

    from core.distill.trainer import DistillTrainer, KDSettings, training_args

    model, _, sequences = teacher_and_sequences
    cache = build_topk_cache(
        model, sequences, tmp_path / "c", k=8, samples=4, progress=Progress(False)
    )
    batch = collate([DistillDataset(sequences, cache)[i] for i in (0, 1)])
    first_answer = next(i for i, v in enumerate(sequences[0].labels) if v != -100)
    args = training_args(
        DistillConfig(max_steps=1, bf16=False), tmp_path / "out", save_strategy="no"
    )
    trainer = DistillTrainer(model=model, args=args, kd=KDSettings(), data_collator=collate)

    def loss_with(change) -> float:
        inputs = {k: v.clone() for k, v in batch.items()}
        change(inputs)
        with torch.no_grad():
            return float(trainer.compute_loss(model, inputs))

    base = loss_with(lambda b: None)
    # Row p predicts token p + 1: rows before first_answer - 1 belong to the prompt.
    prompt_rows = slice(0, first_answer - 1)
    assert loss_with(lambda b: b["topk_logprobs"][0, prompt_rows].fill_(-0.01)) == pytest.approx(
        base, rel=1e-6
    )
    assert loss_with(lambda b: b["topk_logprobs"][0, first_answer:].fill_(-0.01)) != pytest.approx(
        base, rel=1e-3
    )


def test_topk_cache_rows_match_the_teacher_and_are_compact(teacher_and_sequences, tmp_path):
    import torch

    model, _, sequences = teacher_and_sequences
    cache = build_topk_cache(
        model, sequences, tmp_path / "cache", k=8, batch_size=2, progress=Progress(False)
    )
    assert cache.tokens == sum(len(s.input_ids) for s in sequences)
    assert cache.bytes_per_token == 8 * 2 + 8 * 2 + 2  # uint16 ids, fp16 log-probs, fp16 tail
    batch = collate([DistillDataset(sequences, cache)[i] for i in (0, 3)])
    with torch.inference_mode():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    # The rows the loss reads (the next token is labelled) are the teacher's own top-k.
    labels = sequences[3].labels
    read = torch.tensor([i for i in range(len(labels) - 1) if labels[i + 1] != -100])
    assert len(read) > 0
    want = torch.log_softmax(logits[1, read], -1).topk(8, dim=-1)
    assert torch.equal(batch["topk_ids"][1, read], want.indices)
    assert torch.allclose(batch["topk_logprobs"][1, read], want.values, atol=2e-2)
    again = build_topk_cache(model, sequences, tmp_path / "cache", k=8, progress=Progress(False))
    assert again.tokens == cache.tokens  # reused, not rebuilt
    sampled = build_topk_cache(
        model, sequences, tmp_path / "sampled", k=8, samples=8, progress=Progress(False)
    )
    assert sampled.bytes_per_token == 4 * 8 + 4 * 8 + 4  # + samples, their log-probs, entropy
    batch = collate([DistillDataset(sequences, sampled)[i] for i in (0, 3)])
    top = batch["topk_ids"][1, read]
    drawn = batch["topk_sample_ids"][1, read]
    assert not (drawn[..., :, None] == top[..., None, :]).any()  # samples come from the tail


def test_k_larger_than_the_vocabulary_is_refused(teacher_and_sequences, tmp_path):
    model, tokenizer, sequences = teacher_and_sequences
    with pytest.raises(InputError, match="topk must be between 1 and"):
        build_topk_cache(
            model, sequences, tmp_path / "c", k=len(tokenizer) + 5, progress=Progress(False)
        )
    assert not (tmp_path / "c").exists()


def test_a_failed_shard_write_leaves_nothing_behind(teacher_and_sequences, tmp_path):
    model, _, sequences = teacher_and_sequences
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (1000, old[1])
    )  # writes past 1 kB fail, as on a full disk
    try:
        with pytest.raises(StillhouseError, match="cannot write|disk full"):
            build_topk_cache(model, sequences, tmp_path / "cache", k=8, progress=Progress(False))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert list(tmp_path.iterdir()) == []
