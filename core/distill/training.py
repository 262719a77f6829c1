"""The steps of ``distill()`` after the teacher data exists: student, baseline, cache, train,
finish.

Each function does one step, takes the run's ``RunContext`` (``core.distill.context``) and is
called in order by ``core.distill.run``; they are kept here so that ``run.py`` reads as the
outline of the job.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

from core.distill.config import data_path
from core.distill.context import DistillResult, RunContext, write_json
from core.distill.evaluate import Subject, compare_on_texts, evaluate_pair
from core.recorder import ArtifactRef

# Calibration text for angular pruning (not the held-out set, which must stay unseen).
CALIBRATION = [
    "Water boils at a lower temperature high in the mountains because the air pressure is lower.",
    "To sort a list in Python, call sorted(items) or items.sort() to change the list in place.",
    "The library opens at nine in the morning and closes at six in the evening on weekdays.",
    "A good cover letter is short, names the job, and says why you fit it in plain words.",
]


def calibration_texts(config, n_prompts: int = 64) -> list[str]:
    """Text the pruning importance is measured on: a few fixed sentences and the first
    training prompts (never the held-out set)."""
    from core.distill.data import load_prompts

    prompts = load_prompts(data_path(config.prompts), n_prompts)
    return CALIBRATION + [p["prompt"] for p in prompts]


def heldout_prompts(config) -> list[str] | None:
    """The held-out prompts both models answer for the answer agreement (None: none set)."""
    if not config.heldout_prompts:
        return None
    from core.distill.data import load_prompts

    return [p["prompt"] for p in load_prompts(data_path(config.heldout_prompts))]


def check_prune_early(config, teacher_folder: Path) -> None:
    """Refuse prune settings that do not fit the teacher, and a bad held-out prompt file,
    before any teacher data is made."""
    heldout_prompts(config)
    if config.student_from:
        return
    from transformers import AutoConfig

    from core.distill.student import check_prune

    check_prune(config.prune, AutoConfig.from_pretrained(teacher_folder))


def make_student(ctx: RunContext) -> tuple[Any, list[int] | None]:
    """Prune the teacher (or load ``student_from``, checking its tokenizer); returns (model,
    kept)."""
    import torch

    from core.distill.student import check_tokenizers

    config, teacher, tokenizer = ctx.config, ctx.teacher, ctx.tokenizer

    if config.student_from:
        from core.models import load_causal_lm, resolve_model

        spec = resolve_model(config.student_from)
        student, student_tok = load_causal_lm(spec)
        check_tokenizers(tokenizer, student_tok, ctx.teacher_spec.name, spec.name)
        student.train()
        return student, None
    from core.distill.student import prune_student

    torch.manual_seed(config.seed)
    student, kept = prune_student(teacher, tokenizer, config.prune, calibration_texts(config))
    student.train()
    return student, kept


def baseline(ctx: RunContext) -> dict[str, float]:
    """Held-out figures of the untrained student (kept in the run folder, so resume reuses them)."""
    path = ctx.folder / "baseline.json"
    if path.is_file():
        return json.loads(path.read_text())
    config, student = ctx.config, ctx.student
    student.eval()
    scores = compare_on_texts(
        ctx.teacher,
        student,
        ctx.tokenizer,
        ctx.heldout,
        max_len=config.eval_max_len,
        batch_size=config.eval_batch_size,
        progress=ctx.progress,
    )
    student.train()
    result = {k: scores[k] for k in ("perplexity", "kl", "top1_agreement")}
    write_json(path, result)
    ctx.progress.note(
        f"untrained student: held-out KL {result['kl']:.3f} nats/token, "
        f"perplexity {result['perplexity']:.1f}"
    )
    return result


def build_dataset(ctx: RunContext):
    """Tokenize the teacher data and (for top-k) build or reuse the teacher's top-k cache."""
    from core.distill.cache import DistillDataset, build_topk_cache
    from core.distill.data import read_teacher_data

    config, tokenizer, data, prog = ctx.config, ctx.tokenizer, ctx.data, ctx.progress

    sequences = training_sequences(config, tokenizer, read_teacher_data(data.path))
    if config.topk == 0:
        return DistillDataset(sequences)
    from core.distill.cache import MANIFEST
    from core.distill.cache_mmap import mmap_topk_cache

    folder = topk_cache_folder(config, data, sequences)
    started = time.perf_counter()
    if not (folder / MANIFEST).is_file():
        build_topk_cache(
            ctx.teacher,
            sequences,
            folder,
            k=config.topk,
            samples=config.tail_samples,
            seed=config.seed,
            bf16=config.cache_bf16,
            batch_size=config.batch_size,
            progress=prog,
        )
    cache = mmap_topk_cache(folder)  # every rank maps it; none holds all of it in RAM
    prog.note(
        f"top-k cache: k={cache.k}, {cache.tokens} tokens, {cache.bytes_per_token:.0f} bytes/token "
        f"({time.perf_counter() - started:.1f} s) in {folder}"
    )
    return DistillDataset(sequences, cache)


def training_sequences(config, tokenizer, records):
    """The run's training sequences, as its settings say: the teacher-data records, then the
    ready text (``texts``), if any."""
    from core.distill.cache import tokenize_records, tokenize_texts

    sequences = tokenize_records(
        tokenizer,
        records,
        max_len=config.max_seq_len,
        train_on_prompt=config.train_on_prompt,
        plain_share=config.plain_share,
        seed=config.seed,
    )
    from core.distill.texts import load_texts, texts_file

    found = texts_file(config)
    if found:
        texts = [r["text"] for r in load_texts(found[0], config.max_texts)]
        sequences += tokenize_texts(tokenizer, texts, max_len=config.max_seq_len)
    return sequences


def topk_cache_folder(config, data, sequences) -> Path:
    """The cache folder for these teacher data and settings (shared by the vLLM builder)."""
    from core.distill.cache import sequences_sha
    from core.hashing import sha256_text
    from core.paths import stillhouse_home

    key = sha256_text(
        f"{data.sha256}:{sequences_sha(sequences)}:{config.topk}:{config.cache_bf16}"
        f":{config.tail_samples}:{config.seed}"
    )[:16]
    return stillhouse_home() / "cache" / f"topk-{key}"


def make_trainer(ctx: RunContext, dataset):
    """The ``DistillTrainer`` for this run and the Ctrl-C handler that stops it cleanly."""
    from core.distill.budget import TimeBudget
    from core.distill.cache import collate
    from core.distill.trainer import (
        DistillTrainer,
        KDSettings,
        PeakMemory,
        ReportProgress,
        StopOnSignal,
    )

    config, tokenizer = ctx.config, ctx.tokenizer
    stopper = StopOnSignal()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if config.freeze_embeddings:  # a tied output head is the same tensor, frozen with them
        ctx.student.get_input_embeddings().weight.requires_grad_(False)
    trainer = DistillTrainer(
        model=ctx.student,
        args=ctx.args,
        train_dataset=dataset,
        data_collator=partial(collate, pad_id=pad),
        kd=KDSettings.from_config(config),
        teacher=ctx.teacher if config.topk == 0 else None,
        callbacks=[
            stopper,
            ReportProgress(ctx.progress),
            PeakMemory(ctx.progress),
            TimeBudget(config.train_seconds),
        ],
    )
    if ctx.progress.enabled is not True:
        from transformers.trainer_callback import ProgressCallback

        trainer.remove_callback(ProgressCallback)
    return trainer, stopper


def checkpoint_step(checkpoint: Path | None) -> int:
    return int(checkpoint.name.split("-")[-1]) if checkpoint else 0


def loss_curve(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Plot training loss (and KD nats/token) per step into a PNG."""
    points = [(h["step"], h["loss"], h.get("kd")) for h in history if "loss" in h]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.plot([p[0] for p in points], [p[1] for p in points], label="training loss")
    if all(p[2] is not None for p in points):
        ax.plot(
            [p[0] for p in points],
            [float(p[2] or 0.0) for p in points],
            label="KD divergence (nats/token)",
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title("stillhouse distillation")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def finish(ctx: RunContext, trainer) -> DistillResult:
    """Save the student, evaluate it against the teacher, write the files, record the run."""
    from core.models import load_causal_lm, prepare_model, resolve_model, save_model
    from core.specs import ModelSpec

    config, folder, student, tokenizer = ctx.config, ctx.folder, ctx.student, ctx.tokenizer
    teacher_spec, kept, baseline_scores = ctx.teacher_spec, ctx.kept, ctx.baseline
    student.eval()
    layers = f"layers {kept}" if kept else f"from {config.student_from}"
    # The student's own licence is its base's (the pruned teacher, or student_from), not the
    # teacher's: what it inherits from the teacher is the pre-flight's obligations.
    base = resolve_model(config.student_from) if config.student_from else teacher_spec
    spec = ModelSpec(
        name=config.student_name,
        source="local",
        license=base.license,
        base_model=base.name,
        description=f"distilled from {teacher_spec.name} ({layers}, {config.loss}, "
        f"{config.max_steps} steps)",
    )
    student.config.use_cache = True  # training turned it off; a served model wants its KV cache
    saved = save_model(student, tokenizer, spec)
    # Evaluate the saved weights, as the app will serve them: the trained model in memory still
    # carries the trainer's bf16 autocast wrapper, which casts every weight on every forward
    # and made its decode 2x slower than the teacher's in the run's own timing.
    served, _ = load_causal_lm(
        saved.spec,
        device=str(next(student.parameters()).device),
        dtype=str(next(student.parameters()).dtype).removeprefix("torch."),
    )
    report = evaluate_pair(
        Subject(teacher_spec.name, ctx.teacher, tokenizer, prepare_model(teacher_spec).path),
        Subject(config.student_name, served, tokenizer, saved.path),
        ctx.heldout,
        max_len=config.eval_max_len,
        batch_size=config.eval_batch_size,
        speed_tokens=config.speed_tokens,
        baseline=baseline_scores,
        progress=ctx.progress,
        prompts=heldout_prompts(config),
        answer_tokens=config.answer_tokens,
        answer_temperature=config.answer_temperature,
        seed=config.seed,
    )
    evaluation = {**report.model_dump(), "kl_reduction": report.kl_reduction}
    eval_path = folder / "evaluation.json"
    write_json(eval_path, evaluation)
    png = loss_curve(trainer.state.log_history, folder / "loss.png")
    if not config.keep_checkpoints:
        import shutil

        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    outputs = [
        ArtifactRef(
            role="student",
            kind="model",
            name=config.student_name,
            sha256=saved.weights_sha256,
            license=base.license,
            path=str(saved.path),
            details={"spec": saved.spec.model_dump(exclude_none=True), "kept_layers": kept},
        ),
        ArtifactRef(
            role="evaluation",
            kind="file",
            name=eval_path.name,
            sha256=_sha(eval_path),
            path=str(eval_path),
        ),
    ]
    if png:
        outputs.append(
            ArtifactRef(
                role="loss_curve", kind="file", name=png.name, sha256=_sha(png), path=str(png)
            )
        )
    metrics = {
        "kl": report.kl,
        "kl_untrained": baseline_scores["kl"],
        "kl_reduction": report.kl_reduction,
        "perplexity": report.student.perplexity,
        "teacher_perplexity": report.teacher.perplexity,
        "top1_agreement": report.top1_agreement,
        "steps": trainer.state.global_step,
        "student_parameters": report.student.parameters,
    }
    ctx.recorder.finish_run(ctx.run_id, outputs=outputs, metrics=metrics, status="succeeded")
    return DistillResult(
        run_id=ctx.run_id,
        run_dir=str(folder),
        student_name=config.student_name,
        student_dir=str(saved.path),
        student_sha256=saved.weights_sha256 or "",
        evaluation=evaluation,
        table=report.table(),
        eval_json=str(eval_path),
        loss_curve_png=str(png) if png else None,
        teacher_data=str(ctx.data.path),
        kept_layers=kept,
        wall_s=time.perf_counter() - ctx.started,
        resumed_from_step=ctx.resumed_step,
        state_sha256=state_sha256(student),
    )


def state_sha256(model) -> str:
    """SHA-256 over the model's parameters in name order (identical weights, identical hash)."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _sha(path: Path) -> str:
    from core.hashing import sha256_file

    return sha256_file(path)
