"""A CPU test double of vLLM's ``LLMEngine``: ``add_request`` / ``step`` / ``abort_request``.

    engine = FakeEngine(model, tokenizer)
    backend = VLLMBackend.from_engine(engine, tokenizer, spec, sampling_params=SamplingParams,
                                      eos_ids={tokenizer.eos_token_id})

It decodes greedily with a real (tiny) transformers model, one token per request per ``step``,
and answers with objects shaped like vLLM's ``RequestOutput`` / ``CompletionOutput`` /
``Logprob``, following vLLM's rules where the backend depends on them: outputs are cumulative;
a stop token id (or EOS) stays in ``token_ids`` but not in ``text`` and sets ``stop_reason`` to
the id; a stop string cuts ``text`` and sets ``stop_reason`` to the string; ``logprobs`` has one
entry per generated token (EOS included); ``prompt_logprobs`` starts with ``None`` and holds the
top-k plus the actual prompt token. Hooks make it refuse requests, fail a step, or stall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool
    prompt_logprobs: list[dict[int, Logprob] | None] | None = None


@dataclass
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] | None = None
    stop_token_ids: list[int] | None = None
    logprobs: int | None = None
    prompt_logprobs: int | None = None


@dataclass
class _Request:
    prompt: list[int]
    params: SamplingParams
    generated: list[int] = field(default_factory=list)
    logprobs: list[dict[int, Logprob]] = field(default_factory=list)
    prompt_logprobs: list[dict[int, Logprob] | None] | None = None


class FakeEngine:
    """Greedy decoding on a transformers model behind vLLM's engine methods."""

    def __init__(self, model, tokenizer, *, max_model_len: int = 512) -> None:
        import torch

        self.model, self.tokenizer = model.eval(), tokenizer
        self.model_config = SimpleNamespace(max_model_len=max_model_len, dtype=torch.float32)
        self.requests: dict[str, _Request] = {}
        self.added: list[str] = []
        self.aborted: list[str] = []
        self.steps = 0
        self.shut_down = False
        self.refuse: Any = None  # callable(prompt ids) -> exception to raise, or None
        self.fail_next_step: Exception | None = None
        self.stall = False  # step() returns nothing while True

    # -- vLLM's surface -------------------------------------------------------------------
    def add_request(self, request_id: str, prompt: dict, params: SamplingParams) -> None:
        ids = list(prompt["prompt_token_ids"])
        problem = self.refuse(ids) if self.refuse else None
        if problem is not None:
            raise problem
        if params.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {params.max_tokens}")
        if request_id in self.requests:
            raise ValueError(f"request id {request_id} already running")
        self.requests[request_id] = _Request(ids, params)
        self.added.append(request_id)

    def abort_request(self, request_ids) -> None:
        ids = [request_ids] if isinstance(request_ids, str) else list(request_ids)
        for request_id in ids:
            if self.requests.pop(request_id, None) is not None:
                self.aborted.append(request_id)

    def step(self) -> list[RequestOutput]:
        if self.fail_next_step is not None:
            error, self.fail_next_step = self.fail_next_step, None
            raise error
        if self.stall:
            return []
        self.steps += 1
        outputs = [self._advance(rid, req) for rid, req in list(self.requests.items())]
        for output in outputs:
            if output.finished:
                del self.requests[output.request_id]
        return outputs

    def shutdown(self) -> None:
        self.shut_down = True

    # -- greedy decoding ----------------------------------------------------------------------
    def _advance(self, request_id: str, req: _Request) -> RequestOutput:
        import torch

        ids = torch.tensor([req.prompt + req.generated])
        with torch.no_grad():
            logits = self.model(input_ids=ids).logits[0].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        if req.params.prompt_logprobs and req.prompt_logprobs is None:
            req.prompt_logprobs = [None] + [
                self._top(log_probs[i - 1], req.params.prompt_logprobs, req.prompt[i])
                for i in range(1, len(req.prompt))
            ]
        token = int(log_probs[-1].argmax())
        req.generated.append(token)
        if req.params.logprobs:
            req.logprobs.append(self._top(log_probs[-1], req.params.logprobs, token))
        return self._output(request_id, req)

    def _output(self, request_id: str, req: _Request) -> RequestOutput:
        finish, stop_reason, shown = None, None, list(req.generated)
        if req.generated[-1] in (req.params.stop_token_ids or []):
            finish, stop_reason, shown = "stop", req.generated[-1], shown[:-1]
        text = self.tokenizer.decode(shown, skip_special_tokens=True)
        for stop in req.params.stop or []:
            if stop in text:
                finish, stop_reason, text = "stop", stop, text[: text.index(stop)]
                break
        if finish is None and len(req.generated) >= req.params.max_tokens:
            finish = "length"
        completion = CompletionOutput(
            index=0,
            text=text,
            token_ids=list(req.generated),
            cumulative_logprob=None,
            logprobs=list(req.logprobs) if req.params.logprobs else None,
            finish_reason=finish,
            stop_reason=stop_reason,
        )
        return RequestOutput(
            request_id=request_id,
            prompt_token_ids=list(req.prompt),
            outputs=[completion],
            finished=finish is not None,
            prompt_logprobs=req.prompt_logprobs,
        )

    @staticmethod
    def _top(row, k: int, actual: int) -> dict[int, Logprob]:
        values, ids = row.topk(k)
        top = {
            int(i): Logprob(float(v), rank=r + 1)
            for r, (v, i) in enumerate(zip(values, ids, strict=True))
        }
        if actual not in top:  # vLLM adds the sampled / actual token with its own rank
            rank = int((row > row[actual]).sum()) + 1
            top[actual] = Logprob(float(row[actual]), rank=rank)
        return top
