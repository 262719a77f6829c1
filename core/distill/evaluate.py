"""Teacher vs student on held-out text: perplexity, KL, top-1 agreement, size and speed.

    report = evaluate_pair(
        "smollm2-135m-instruct", "smollm2-distilled", "data/prompts/heldout.jsonl"
    )
    print(report.table())
    report.model_dump_json()

``teacher`` and ``student`` may be names/specs (loaded here) or ``Subject`` objects holding an
already-loaded model. Perplexity = exp(mean next-token NLL); KL = mean over held-out tokens of
KL(p_teacher || p_student) at T = 1, in nats/token; top-1 agreement = share of positions where
both models' most likely next token is the same; tokens/s = greedy decode speed at batch 1, the
two models timed interleaved (teacher, student, teacher, ...; median of 3), so load on the
machine hits both alike.

With ``prompts`` (held-out prompts) the report also holds answers (``core.distill.answers``):
the teacher's two samples and the student's, the perplexity of both models on the teacher's
answers (text the teacher wrote, never trained on), and, when a ``scorer`` is given, the answer
agreement between floor and ceiling and the "quality kept" number.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.distill.answers import AnswerAgreement, AnswerSet, Scorer, agreement, quality_kept
from core.specs import ModelSpec


class ModelStats(BaseModel):
    """One model's figures on the held-out set."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Model name.")
    parameters: int = Field(description="Parameter count.")
    bytes: int | None = Field(
        default=None, description="Weights on disk, in bytes (None: not saved)."
    )
    tokens_per_s: float | None = Field(
        default=None, description="Greedy generation speed, batch 1."
    )
    perplexity: float = Field(description="exp(mean next-token NLL) on the held-out texts.")


class EvalReport(BaseModel):
    """Teacher and student side by side, with the student's distance to the teacher."""

    model_config = ConfigDict(extra="forbid")

    teacher: ModelStats = Field(description="The teacher's figures.")
    student: ModelStats = Field(description="The student's figures.")
    kl: float = Field(description="Mean KL(teacher || student), nats/token.")
    top1_agreement: float = Field(description="Share of positions with the same most likely token.")
    heldout_tokens: int = Field(description="Held-out positions scored.")
    heldout_texts: int = Field(description="Held-out texts scored.")
    baseline: dict[str, float] | None = Field(
        default=None, description="The pruned, untrained student: perplexity, kl, top1_agreement."
    )
    answers: AnswerSet | None = Field(
        default=None, description="Both models' answers to the held-out prompts."
    )
    answers_perplexity: dict[str, float] | None = Field(
        default=None,
        description="Perplexity of teacher and student on the teacher's held-out answers.",
    )
    agreement: AnswerAgreement | None = Field(
        default=None, description="Answer agreement between floor and ceiling (with a scorer)."
    )
    win_rate: float | None = Field(
        default=None, description="The student's win rate against the teacher (judge or votes)."
    )

    @property
    def perplexity_ratio(self) -> float:
        return self.student.perplexity / self.teacher.perplexity

    @property
    def speedup(self) -> float | None:
        t, s = self.teacher.tokens_per_s, self.student.tokens_per_s
        return s / t if t and s else None

    @property
    def quality_kept(self) -> float | None:
        """Mean of the perplexity ratio (inverted), agreement positions and win rate."""
        return quality_kept(self.perplexity_ratio, self.agreement, self.win_rate)[0]

    @property
    def kl_reduction(self) -> float | None:
        """1 - KL(student) / KL(untrained student), when a baseline is known."""
        if not self.baseline or not self.baseline.get("kl"):
            return None
        return 1.0 - self.kl / self.baseline["kl"]

    def table(self) -> str:
        """A plain-text table for the terminal."""
        t, s, b = self.teacher, self.student, self.baseline or {}
        rows = [
            ("", "teacher", "student", "pruned, untrained"),
            ("model", t.name, s.name, "-"),
            ("parameters", f"{t.parameters / 1e6:.1f}M", f"{s.parameters / 1e6:.1f}M", "-"),
            ("weights on disk", _mb(t.bytes), _mb(s.bytes), "-"),
            ("tokens/s (greedy)", _num(t.tokens_per_s), _num(s.tokens_per_s), "-"),
            (
                "held-out perplexity",
                f"{t.perplexity:.2f}",
                f"{s.perplexity:.2f}",
                f"{b['perplexity']:.2f}" if b else "-",
            ),
            ("KL(teacher||model)", "0", f"{self.kl:.3f}", f"{b['kl']:.3f}" if b else "-"),
            (
                "top-1 agreement",
                "1",
                f"{self.top1_agreement:.3f}",
                f"{b['top1_agreement']:.3f}" if b else "-",
            ),
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        if self.answers_perplexity:
            ap = self.answers_perplexity
            lines.append(
                f"perplexity on the teacher's held-out answers: teacher {ap['teacher']:.2f}, "
                f"student {ap['student']:.2f} ({ap['student'] / ap['teacher']:.2f}x)"
            )
        if self.agreement is not None:
            a = self.agreement
            lines.append(
                "answer agreement (floor / student / ceiling): "
                + "; ".join(
                    f"{m} {a.floor[m]:.3f} / {a.student[m]:.3f} / {a.ceiling[m]:.3f} "
                    f"({a.position[m]:.0%} of the way)"
                    for m in a.position
                )
            )
        kept = self.quality_kept
        if kept is not None and self.agreement is not None:  # else the caller scores it
            speed = f", speed-up {self.speedup:.2f}x at batch 1" if self.speedup else ""
            lines.append(f"quality kept: {kept:.0%}{speed}")
        if self.kl_reduction is not None:
            lines.append(
                f"KL drop vs pruned, untrained student: {self.kl_reduction:.1%} "
                f"({b['kl']:.3f} -> {self.kl:.3f} nats/token, {self.heldout_tokens} held-out "
                "tokens)"
            )
        return "\n".join(lines)


def _num(value: float | None) -> str:
    return f"{value:.1f}" if value else "-"


def _mb(value: int | None) -> str:
    return f"{value / 1e6:.1f} MB" if value else "-"


@dataclass
class Subject:
    """A loaded model to evaluate: name, model, tokenizer and (if saved) its folder."""

    name: str
    model: Any
    tokenizer: Any
    path: Path | None = None


def as_subject(value: Subject | ModelSpec | str) -> Subject:
    if isinstance(value, Subject):
        return value
    from core.models import load_causal_lm, prepare_model, resolve_model

    spec = resolve_model(value) if isinstance(value, str) else value
    model, tokenizer = load_causal_lm(spec)
    return Subject(spec.name, model, tokenizer, prepare_model(spec).path)


def weights_bytes(path: Path | None) -> int | None:
    from core.hashing import weights_files

    return sum(f.stat().st_size for f in weights_files(path)) if path else None


def _batches(tokenizer, texts: list[str], max_len: int, batch_size: int):
    import torch

    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"][:max_len] for t in texts]
    for start in range(0, len(encoded), batch_size):
        chunk = [ids for ids in encoded[start : start + batch_size] if len(ids) > 1]
        if not chunk:
            continue
        width = max(len(c) for c in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for row, c in enumerate(chunk):
            ids[row, : len(c)], mask[row, : len(c)] = torch.tensor(c), 1
        yield ids, mask


def compare_on_texts(
    teacher,
    student,
    tokenizer,
    texts: list[str],
    *,
    max_len: int = 256,
    batch_size: int = 4,
    progress=None,
) -> dict[str, float]:
    """Perplexities of both, mean KL(teacher || student) and top-1 agreement over ``texts``."""
    import torch

    from core.distill.losses import forward_kl

    sums = {"t_nll": 0.0, "s_nll": 0.0, "kl": 0.0, "agree": 0.0, "tokens": 0.0}
    batches = list(_batches(tokenizer, texts, max_len, batch_size))
    device = next(student.parameters()).device
    for done, (ids, mask) in enumerate(batches, start=1):
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            t_logits = teacher(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            s_logits = student(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        # Same tokenizer, but the embedding matrices may be padded to different sizes
        # (Qwen2.5 7B vs 0.5B).
        vocab = min(t_logits.shape[-1], s_logits.shape[-1])
        t_logits, s_logits = t_logits[..., :vocab], s_logits[..., :vocab]
        targets, valid = ids[:, 1:], (mask[:, 1:] * mask[:, :-1]).bool()
        for key, logits in (("t_nll", t_logits), ("s_nll", s_logits)):
            nll = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), targets, reduction="none"
            )
            sums[key] += float((nll * valid).sum())
        sums["kl"] += float(forward_kl(s_logits, t_logits, mask=valid, reduction="sum"))
        sums["agree"] += float(((t_logits.argmax(-1) == s_logits.argmax(-1)) & valid).sum())
        sums["tokens"] += float(valid.sum())
        if progress is not None:
            progress.report(done / len(batches), "held-out evaluation")
    n = max(sums["tokens"], 1.0)
    return {
        "teacher_perplexity": math.exp(sums["t_nll"] / n),
        "perplexity": math.exp(sums["s_nll"] / n),
        "kl": sums["kl"] / n,
        "top1_agreement": sums["agree"] / n,
        "tokens": int(sums["tokens"]),
    }


def tokens_per_second(
    model,
    tokenizer,
    new_tokens: int = 32,
    prompt: str = "Write a short note about rivers and the sea.",
    batch: int = 1,
) -> float:
    """Greedy decode speed (new tokens/s over the whole batch) after one warm-up token."""
    import torch

    messages = [{"role": "user", "content": prompt}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer([text] * batch, return_tensors="pt", add_special_tokens=False).to(
        next(model.parameters()).device
    )
    kwargs = {
        "do_sample": False,
        "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
        "temperature": None,
        "top_p": None,
        "top_k": None,
    }
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=1, **kwargs)
        start = time.perf_counter()
        out = model.generate(
            **inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kwargs
        )
        elapsed = time.perf_counter() - start
    return batch * (out.shape[1] - inputs["input_ids"].shape[1]) / max(elapsed, 1e-9)


def decode_speeds(
    teacher, student, tokenizer, new_tokens: int = 32, *, batch: int = 1, repeats: int = 3
) -> tuple[float, float]:
    """Greedy decode tokens/s of both models at ``batch``, timed interleaved (median)."""
    import statistics

    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for side, model in enumerate((teacher, student)):
            times[side].append(tokens_per_second(model, tokenizer, new_tokens, batch=batch))
    return statistics.median(times[0]), statistics.median(times[1])


def answers_perplexity(teacher, student, tokenizer, answers: AnswerSet, max_len: int):
    """Perplexity of both models on the teacher's answers to held-out prompts (chat form)."""
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}, {"role": "assistant", "content": a}], tokenize=False
        )
        for p, a in zip(answers.prompts, answers.teacher, strict=True)
    ]
    scores = compare_on_texts(teacher, student, tokenizer, texts, max_len=max_len)
    return {"teacher": scores["teacher_perplexity"], "student": scores["perplexity"]}


def evaluate_pair(
    teacher: Subject | ModelSpec | str,
    student: Subject | ModelSpec | str,
    heldout: str | Path | list[str],
    *,
    max_len: int = 256,
    batch_size: int = 4,
    speed_tokens: int = 32,
    baseline: dict[str, float] | None = None,
    progress=None,
    prompts: list[str] | None = None,
    answer_tokens: int = 48,
    answer_temperature: float = 0.7,
    scorer: Scorer | None = None,
    seed: int = 0,
) -> EvalReport:
    """Score a student against its teacher on held-out texts (a JSONL path or a list of texts)."""
    from core.distill.data import load_heldout
    from core.distill.student import check_tokenizers

    t, s = as_subject(teacher), as_subject(student)
    check_tokenizers(t.tokenizer, s.tokenizer, t.name, s.name)
    texts = heldout if isinstance(heldout, list) else load_heldout(heldout)
    was_training = s.model.training
    s.model.eval()
    scores = compare_on_texts(
        t.model,
        s.model,
        t.tokenizer,
        texts,
        max_len=max_len,
        batch_size=batch_size,
        progress=progress,
    )
    t_speed = s_speed = None
    if speed_tokens:
        t_speed, s_speed = decode_speeds(t.model, s.model, t.tokenizer, speed_tokens)
    answers = agree = answers_ppl = None
    if prompts:
        from core.distill.answers import answer_set

        answers = answer_set(
            t.model,
            s.model,
            t.tokenizer,
            prompts,
            max_new_tokens=answer_tokens,
            temperature=answer_temperature,
            seed=seed,
        )
        answers_ppl = answers_perplexity(t.model, s.model, t.tokenizer, answers, max_len)
        agree = agreement(answers, scorer) if scorer is not None else None
    teacher_stats = _stats(t, scores["teacher_perplexity"], t_speed)
    student_stats = _stats(s, scores["perplexity"], s_speed)
    s.model.train(was_training)
    return EvalReport(
        teacher=teacher_stats,
        student=student_stats,
        kl=scores["kl"],
        top1_agreement=scores["top1_agreement"],
        heldout_tokens=int(scores["tokens"]),
        heldout_texts=len(texts),
        baseline=baseline,
        answers=answers,
        answers_perplexity=answers_ppl,
        agreement=agree,
    )


def _stats(subject: Subject, perplexity: float, speed: float | None) -> ModelStats:
    """Size, speed (measured interleaved by the caller) and held-out perplexity of one model."""
    return ModelStats(
        name=subject.name,
        parameters=subject.model.num_parameters(),
        bytes=weights_bytes(subject.path),
        tokens_per_s=speed,
        perplexity=perplexity,
    )
