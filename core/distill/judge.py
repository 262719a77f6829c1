"""A pairwise judge through any OpenAI-compatible endpoint: the student's win rate.

    outcome = judge_win_rate(answers, model="gpt-4o-mini", base_url="http://localhost:8000/v1")
    outcome.win_rate, outcome.judged, outcome.error

For every held-out prompt the judge sees the teacher's and the student's answer twice, once in
each order (A/B then B/A, as MT-Bench and AlpacaEval do, so position bias cancels), and answers
"A", "B" or "tie". Win rate = (student wins + ties / 2) / verdicts. An endpoint that fails
(refused connection, HTTP error, timeout) ends the judging: the outcome carries no win rate and
says why, and the rest of the evaluation stands.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.distill.answers import AnswerSet

PROMPT = (
    "You compare two answers to the same question. Reply with exactly one word: A if answer A "
    "is better, B if answer B is better, tie if they are equally good.\n\n"
    "Question:\n{question}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\nBetter answer (A, B or tie):"
)


class JudgeOutcome(BaseModel):
    """The student's win rate against the teacher by an automatic judge, or why there is none."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Judge model name.")
    win_rate: float | None = Field(default=None, description="Student wins + ties / 2, 0..1.")
    judged: int = Field(default=0, description="Verdicts counted (two per prompt).")
    unreadable: int = Field(default=0, description="Replies that were not A, B or tie.")
    error: str | None = Field(default=None, description="Why judging stopped, if it did.")


def read_verdict(text: str) -> str | None:
    """'A', 'B' or 'tie' from a judge's reply (first word), None if it is none of them."""
    word = text.strip().split()[0].strip(".:!*\"'").lower() if text.strip() else ""
    return {"a": "A", "b": "B", "tie": "tie"}.get(word)


def judge_win_rate(
    answers: AnswerSet | dict,
    *,
    model: str,
    base_url: str,
    api_key: str | None = None,
    timeout_s: float = 60.0,
) -> JudgeOutcome:
    """Ask the judge about every prompt in both orders; see the module docstring."""
    import httpx

    a = answers if isinstance(answers, AnswerSet) else AnswerSet.model_validate(answers)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    score, judged, unreadable = 0.0, 0, 0
    url = base_url.rstrip("/") + "/chat/completions"
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        for question, teacher, student in zip(a.prompts, a.teacher, a.student, strict=True):
            for student_is_a in (True, False):
                first, second = (student, teacher) if student_is_a else (teacher, student)
                body = {
                    "model": model,
                    "messages": [
                        {
                            "role": "user",
                            "content": PROMPT.format(question=question, a=first, b=second),
                        }
                    ],
                    "max_tokens": 4,
                    "temperature": 0,
                }
                try:
                    reply = client.post(url, json=body)
                    reply.raise_for_status()
                    text = reply.json()["choices"][0]["message"]["content"] or ""
                except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                    return JudgeOutcome(
                        model=model,
                        judged=judged,
                        unreadable=unreadable,
                        error=f"judge {model} at {base_url} failed: {type(exc).__name__}: {exc}",
                    )
                verdict = read_verdict(text)
                if verdict is None:
                    unreadable += 1
                    continue
                judged += 1
                won = (verdict == "A") == student_is_a
                score += 0.5 if verdict == "tie" else 1.0 if won else 0.0
    return JudgeOutcome(
        model=model,
        win_rate=score / judged if judged else None,
        judged=judged,
        unreadable=unreadable,
        error=None if judged else "the judge gave no readable verdict",
    )
