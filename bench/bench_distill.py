"""KD training speed: our trainer (offline top-k cache) vs TRL's GKDTrainer, side by side.

    .venv/bin/python bench/bench_distill.py [--steps 10] [--batch 4] [--seq-len 88] [--k 64]

Same teacher (the default SmolLM2-135M-Instruct), same 8-layer pruned student (layers
0,4,8,12,16,20,25,29), same teacher answers (the quick preset's, reused when a quick run
made them), batch and sequence length (every sequence is exactly ``seq-len`` tokens, so
tokens/step is equal), same AdamW learning rate. TRL runs with
lmbda=0 (no on-policy generation), seq_kd=False and beta=0 (forward KL), the teacher in the
loop; we read the teacher's top-k log-probs from the cache built once beforehand (its build time
is printed separately). The first ``warmup`` steps of each are not timed. Also printed: the
cache's bytes/token and the relative error of the top-k forward KL against the dense one.

Three speeds, so the training-only lead is not read as an end-to-end one:
  - our training tokens/s (the cache already built);
  - our end-to-end tokens/s: the teacher writing the answers of these sequences (timed here,
    the default serving config: ``TransformersBackend``, bf16 where native) plus the top-k
    cache build, amortised over one epoch of training tokens on them;
  - TRL's, training only and end to end (TRL trains on the same teacher answers, so it
    pays the same answer generation, but needs no cache).
The LAST line is ``end-to-end ours/TRL: R.Rx`` (TRL float32, its default).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LAYERS = [0, 4, 8, 12, 16, 20, 25, 29]


class PeakRSS:
    """Sample this process's resident memory every 20 ms; report the peak above the start."""

    def __init__(self) -> None:
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


class CountingCollator:
    """Wrap a collator; remember how many real (unpadded) tokens each batch held."""

    def __init__(self, collate) -> None:
        self.collate, self.tokens = collate, []

    def __call__(self, items):
        batch = self.collate(items)
        self.tokens.append(int(batch["attention_mask"].sum()))
        return batch

    def tokens_per_step(self) -> float:
        return sum(self.tokens) / max(len(self.tokens), 1)


def step_timer(warmup: int):
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = None
            self.t1 = None

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                self.t0 = time.perf_counter()
            self.t1 = time.perf_counter()

    return Timer()


def teacher_records(teacher_spec, sha, n: int, seq_len: int, tokenizer):
    """The quick preset's teacher answers (reused when a quick run made them), cut to
    ``seq_len``."""
    from core.distill.cache import tokenize_records
    from core.distill.config import data_path, load_preset
    from core.distill.data import load_prompts, read_teacher_data
    from core.distill.progress import Progress
    from core.distill.run import _teacher_data

    config = load_preset("quick")
    prompts = load_prompts(data_path(config.prompts), config.max_prompts)
    data = _teacher_data(config, prompts, teacher_spec, sha, Progress(True))
    records = read_teacher_data(data.path)
    seqs = tokenize_records(tokenizer, records, max_len=seq_len, train_on_prompt=False)
    keep = [(r, s) for r, s in zip(records, seqs, strict=True) if len(s.input_ids) == seq_len][:n]
    return cut_records([r for r, _ in keep], [s for _, s in keep], tokenizer), [s for _, s in keep]


def cut_records(records, sequences, tokenizer):
    """TRL gets the same text as we do: each answer cut where our sequence ends."""
    cut = []
    for record, seq in zip(records, sequences, strict=True):
        first = next(i for i, label in enumerate(seq.labels) if label != -100)
        cut.append(
            {
                **record,
                "response": tokenizer.decode(seq.input_ids[first:], skip_special_tokens=True),
            }
        )
    return cut


_CACHE: dict = {}


def cache_for(teacher, sequences, opts):
    """Build the top-k cache once (timed); later calls reuse it."""
    import tempfile

    from core.distill.cache import build_topk_cache
    from core.distill.progress import Progress

    if "cache" not in _CACHE:
        folder = Path(tempfile.mkdtemp(prefix="bench-topk-")) / "cache"
        t = time.perf_counter()
        _CACHE["cache"] = build_topk_cache(
            teacher,
            sequences,
            folder,
            k=opts.k,
            bf16=True,
            batch_size=opts.batch,
            progress=Progress(False),
        )
        _CACHE["seconds"] = time.perf_counter() - t
    return _CACHE["cache"]


def run_ours(student, teacher, tokenizer, sequences, opts):
    import tempfile
    from functools import partial

    from core.distill.cache import DistillDataset, collate
    from core.distill.config import DistillConfig
    from core.distill.trainer import DistillTrainer, KDSettings, training_args

    tmp = Path(tempfile.mkdtemp(prefix="bench-distill-"))
    cache, cache_s = cache_for(teacher, sequences, opts), _CACHE["seconds"]
    config = DistillConfig(
        max_steps=opts.steps + opts.warmup,
        batch_size=opts.batch,
        lr=2e-4,
        warmup_ratio=0.0,
        lr_scheduler="constant_with_warmup",
        bf16=True,
        save_steps=10**6,
        logging_steps=10**6,
    )
    timer = step_timer(opts.warmup)
    counter = CountingCollator(partial(collate, pad_id=tokenizer.pad_token_id))
    trainer = DistillTrainer(
        model=student,
        args=training_args(config, tmp / "out", disable_tqdm=True, save_strategy="no"),
        train_dataset=DistillDataset(sequences, cache),
        data_collator=counter,
        kd=KDSettings(loss="forward_kl"),
        callbacks=[timer],
    )
    with PeakRSS() as mem:
        trainer.train()
    return counter.tokens_per_step() * opts.steps / (timer.t1 - timer.t0), mem.mib, cache, cache_s


def run_trl(student, teacher, tokenizer, records, opts, bf16: bool):
    import tempfile

    from datasets import Dataset
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    rows = [
        {
            "messages": [
                {"role": "user", "content": r["prompt"]},
                {"role": "assistant", "content": r["response"]},
            ]
        }
        for r in records
    ]
    args = GKDConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-gkd-"),
        lmbda=0.0,
        beta=0.0,
        seq_kd=False,
        max_length=opts.seq_len + 16,
        per_device_train_batch_size=opts.batch,
        max_steps=opts.steps + opts.warmup,
        learning_rate=2e-4,
        lr_scheduler_type="constant",
        bf16=bf16,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=10**6,
        disable_tqdm=True,
        seed=0,
        # TRL's SFT-derived configs turn activation checkpointing on by default; ours
        # does not recompute activations, so neither does the baseline.
        activation_checkpointing=False,
    )
    timer = step_timer(opts.warmup)
    trainer = GKDTrainer(
        model=student,
        teacher_model=teacher,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    with PeakRSS() as mem:
        trainer.train()
    return counter.tokens_per_step() * opts.steps / (timer.t1 - timer.t0), mem.mib


def topk_error(student, teacher, tokenizer, sequences, cache, batch: int) -> tuple[float, float]:
    """Relative error of the top-k forward KL against the dense one, and the dense KL per token."""
    import torch

    from core.distill.cache import DistillDataset, collate
    from core.distill.losses import forward_kl, topk_loss

    dataset = DistillDataset(sequences, cache)
    dense = cached = tokens = 0.0
    student.eval()
    for start in range(0, min(len(dataset), 4 * batch), batch):
        b = collate(
            [dataset[i] for i in range(start, min(start + batch, len(dataset)))],
            pad_id=tokenizer.pad_token_id,
        )
        with torch.inference_mode():
            s = student(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float()
            t = teacher(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float()
        mask = b["attention_mask"].bool()
        tokens += float(mask.sum())
        dense += float(forward_kl(s, t, mask=mask, reduction="sum"))
        cached += float(
            topk_loss(
                "forward_kl",
                s,
                b["topk_ids"],
                b["topk_logprobs"],
                b["topk_tail"],
                mask=mask,
                reduction="sum",
            )
        )
    student.train()
    return abs(cached - dense) / dense, dense / max(tokens, 1.0)


def generation_seconds(spec, records, max_new_tokens: int) -> tuple[float, int]:
    """Seconds for the teacher (default serving config) to answer these records' prompts."""
    from core.backends.transformers_backend import TransformersBackend
    from core.generation import ChatRequest, GenerationParams

    backend = TransformersBackend(spec, device="cpu")
    requests = [ChatRequest.from_prompt(r["prompt"]) for r in records]
    start = time.perf_counter()
    results = backend.generate(requests, GenerationParams(max_new_tokens=max_new_tokens))
    seconds = time.perf_counter() - start
    backend.close()
    return seconds, sum(r.tokens for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per trainer")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=88)
    parser.add_argument("--k", type=int, default=64)
    opts = parser.parse_args()

    from core.distill.student import prune_layers
    from core.models import load_causal_lm, prepare_model, resolve_model

    spec = resolve_model("smollm2-135m-instruct")
    teacher, tokenizer = load_causal_lm(spec)
    tokenizer.padding_side = "right"
    n = (opts.steps + opts.warmup) * opts.batch
    records, sequences = teacher_records(
        spec, prepare_model(spec).weights_sha256, n, opts.seq_len, tokenizer
    )
    if len(sequences) < n:
        raise SystemExit(
            f"only {len(sequences)} teacher answers reach {opts.seq_len} tokens; need {n}"
        )

    student = prune_layers(teacher, layers=LAYERS)[0]
    err_untrained, kl_untrained = topk_error(
        student, teacher, tokenizer, sequences, cache_for(teacher, sequences, opts), opts.batch
    )
    ours, ours_mem, cache, cache_s = run_ours(student, teacher, tokenizer, sequences, opts)
    err_trained, kl_trained = topk_error(student, teacher, tokenizer, sequences, cache, opts.batch)
    trl32, trl32_mem = run_trl(
        prune_layers(teacher, layers=LAYERS)[0], teacher, tokenizer, records, opts, False
    )
    trl16, trl16_mem = run_trl(
        prune_layers(teacher, layers=LAYERS)[0], teacher, tokenizer, records, opts, True
    )
    from core.distill.config import load_preset

    gen_s, gen_tokens = generation_seconds(spec, records, load_preset("quick").max_new_tokens)
    trained = cache.tokens  # one epoch over exactly the sequences the cache was built on

    def end_to_end(rate: float, *extra_s: float) -> float:
        return trained / (trained / rate + sum(extra_s))

    print(
        f"setup: student layers {LAYERS}, batch {opts.batch} x {opts.seq_len} tokens, "
        f"{opts.steps} timed steps after {opts.warmup}, torch threads "
        f"{__import__('torch').get_num_threads()}"
    )
    print(
        f"top-k cache: k={cache.k}, {cache.bytes_per_token:.0f} bytes/token "
        f"(dense fp32 logits: {4 * teacher.config.vocab_size} bytes/token), built at "
        f"{cache.tokens / cache_s:.0f} tokens/s (once, before training)"
    )
    print(
        f"top-k vs dense forward KL, relative error: {err_untrained:.2%} on the untrained pruned "
        "student "
        f"(KL {kl_untrained:.2f} nats/token), {err_trained:.2%} after our "
        f"{opts.steps + opts.warmup} steps "
        f"(KL {kl_trained:.2f})"
    )
    print(f"ours (top-k cache, bf16 autocast):  {ours:7.1f} tokens/s, peak +{ours_mem:.0f} MiB")
    print(f"TRL GKDTrainer (float32, default):  {trl32:7.1f} tokens/s, peak +{trl32_mem:.0f} MiB")
    print(f"TRL GKDTrainer (bf16 autocast):     {trl16:7.1f} tokens/s, peak +{trl16_mem:.0f} MiB")
    print(
        f"ratio ours/TRL training tokens/s: {ours / trl32:.2f}x vs TRL float32, "
        f"{ours / trl16:.2f}x vs TRL bf16"
    )
    e2e_ours = end_to_end(ours, gen_s, cache_s)
    e2e_trl32, e2e_trl16 = end_to_end(trl32, gen_s), end_to_end(trl16, gen_s)
    print(
        f"teacher answers for these {len(records)} sequences: {gen_s:.1f} s ({gen_tokens} tokens, "
        f"{gen_tokens / gen_s:.1f} tokens/s); top-k cache build {cache_s:.1f} s; "
        f"{trained} training tokens (one epoch)"
    )
    print(f"ours, training only:                 {ours:7.1f} tokens/s")
    print(f"ours, end to end (answers + cache):  {e2e_ours:7.1f} tokens/s")
    print(f"TRL float32, end to end (answers):   {e2e_trl32:7.1f} tokens/s (training {trl32:.1f})")
    print(f"TRL bf16, end to end (answers):      {e2e_trl16:7.1f} tokens/s (training {trl16:.1f})")
    print(f"end-to-end ours/TRL bf16: {e2e_ours / e2e_trl16:.1f}x")
    print(f"end-to-end ours/TRL: {e2e_ours / e2e_trl32:.1f}x")


if __name__ == "__main__":
    main()
