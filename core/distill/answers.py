"""Quality judged on answers: the student's answers against the teacher's, between a floor and
a ceiling, and one "quality kept" number.

    answers = answer_set(teacher, student, tokenizer, prompts, max_new_tokens=64)
    result = agreement(answers, scorer)       # scorer: pairs -> {"chrf": [...], "cosine": [...]}
    result.position["chrf"], result.kept

Per held-out prompt the teacher answers twice and the student once, all sampled at the same
temperature (different seeds). For every metric the scorer gives (chrF and embedding cosine,
from ``audit.similarity`` through ``audit.similarity.agreement.answer_scorer``; core does not
import audit, so the caller passes the scorer in):

- **student**: the student's answer against the teacher's first answer to the same prompt;
- **floor**: the student's answer against the teacher's answer to *another* prompt (what an
  unrelated answer scores);
- **ceiling**: the teacher's second answer against its first (the most a model can agree with
  a sampling teacher).

``position = (student - floor) / (ceiling - floor)``: 0 is no better than unrelated text, 1 is as
close as the teacher to itself. **Quality kept** = the mean of: the positions (each clipped to
[0, 1]), the perplexity ratio ``teacher / student`` (at most 1), and, when known, twice the
student's win rate against the teacher (at most 1; 50% is parity).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Scorer = Callable[[list[tuple[str, str]]], dict[str, list[float]]]


class AnswerSet(BaseModel):
    """Answers to held-out prompts: the teacher twice, the student once, same temperature."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[str] = Field(description="The held-out prompts.")
    teacher: list[str] = Field(description="The teacher's first answer to each prompt.")
    teacher_again: list[str] = Field(description="The teacher's second sample (the ceiling).")
    student: list[str] = Field(description="The student's answer to each prompt.")
    temperature: float = Field(description="Sampling temperature of every answer.")
    max_new_tokens: int = Field(description="Longest answer, in tokens.")


class AnswerAgreement(BaseModel):
    """Mean scores per metric for the student, the floor and the ceiling, and the position."""

    model_config = ConfigDict(extra="forbid")

    prompts: int = Field(description="Held-out prompts scored.")
    student: dict[str, float] = Field(description="Student vs teacher, per metric.")
    floor: dict[str, float] = Field(description="Student vs the teacher's other answers.")
    ceiling: dict[str, float] = Field(description="Teacher vs its own second sample.")
    position: dict[str, float] = Field(
        description="(student - floor) / (ceiling - floor) per metric: 0 unrelated, 1 ceiling."
    )

    @property
    def mean_position(self) -> float:
        return sum(self.position.values()) / max(len(self.position), 1)


def _generate(model, tokenizer, prompts: list[str], *, max_new_tokens, temperature, seed, batch):
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out: list[str] = []
    torch.manual_seed(seed)
    try:
        for start in range(0, len(texts), batch):
            enc = tokenizer(
                texts[start : start + batch],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(device)
            with torch.inference_mode():
                ids = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=temperature > 0,
                    temperature=temperature if temperature > 0 else None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=pad,
                )
            new = ids[:, enc["input_ids"].shape[1] :]
            out += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
    return out


def answer_set(
    teacher,
    student,
    tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.7,
    seed: int = 0,
    batch_size: int = 8,
) -> AnswerSet:
    """The teacher answers every prompt twice and the student once (sampled, seeded)."""
    kw = {"max_new_tokens": max_new_tokens, "temperature": temperature, "batch": batch_size}
    was_training = student.training
    student.eval()
    try:
        first = _generate(teacher, tokenizer, prompts, seed=seed, **kw)
        again = _generate(teacher, tokenizer, prompts, seed=seed + 1, **kw)
        own = _generate(student, tokenizer, prompts, seed=seed + 2, **kw)
    finally:
        student.train(was_training)
    return AnswerSet(
        prompts=prompts,
        teacher=first,
        teacher_again=again,
        student=own,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
    )


def agreement(answers: AnswerSet | dict[str, Any], scorer: Scorer) -> AnswerAgreement:
    """Score the student, the floor and the ceiling with ``scorer`` (one call for all pairs)."""
    a = answers if isinstance(answers, AnswerSet) else AnswerSet.model_validate(answers)
    n = len(a.prompts)
    shift = [(i + 1) % n for i in range(n)] if n > 1 else [0]
    pairs = (
        list(zip(a.teacher, a.student, strict=True))
        + [(a.teacher[j], a.student[i]) for i, j in enumerate(shift)]
        + list(zip(a.teacher, a.teacher_again, strict=True))
    )
    scores = scorer(pairs)
    parts: dict[str, dict[str, float]] = {"student": {}, "floor": {}, "ceiling": {}}
    for metric, values in scores.items():
        for index, part in enumerate(parts):
            chunk = values[index * n : (index + 1) * n]
            parts[part][metric] = float(sum(chunk) / max(len(chunk), 1))
    position = {}
    for metric in scores:
        low, high, got = (parts[p][metric] for p in ("floor", "ceiling", "student"))
        position[metric] = (got - low) / (high - low) if high > low else 0.0
    return AnswerAgreement(prompts=n, position=position, **parts)


def quality_kept(
    perplexity_ratio: float | None,
    agreement_result: AnswerAgreement | None,
    win_rate: float | None = None,
) -> tuple[float | None, dict[str, float]]:
    """The one "quality kept" number (see the module docstring) and its parts."""
    parts: dict[str, float] = {}
    if perplexity_ratio:
        parts["perplexity"] = min(1.0, 1.0 / perplexity_ratio)
    if agreement_result is not None:
        for metric, value in agreement_result.position.items():
            parts[f"agreement_{metric}"] = min(1.0, max(0.0, value))
    if win_rate is not None:
        parts["win_rate"] = min(1.0, 2.0 * win_rate)
    if not parts:
        return None, parts
    return sum(parts.values()) / len(parts), parts
