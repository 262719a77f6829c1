"""transformers backend (CPU or CUDA): chat template, batched generation, streaming."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from core.backends import BackendInfo, GenerationResult
from core.generation import ChatRequest, GenerationParams
from core.specs import ModelSpec


class TransformersBackend:
    """Serve a causal LM through ``model.generate`` with left padding and the KV cache."""

    def __init__(self, spec: ModelSpec, *, device: str | None = None, dtype: str | None = None):
        from core.models import load_causal_lm

        self.spec = spec
        self.model, self.tokenizer = load_causal_lm(spec, device=device, dtype=dtype)
        self._lock = threading.Lock()

    def info(self) -> BackendInfo:
        return BackendInfo(
            name=self.spec.name, engine="transformers", parameters=self.model.num_parameters(),
            device=str(self.model.device.type), dtype=str(self.model.dtype).removeprefix("torch."),
        )

    def _encode(self, requests: list[ChatRequest]):
        texts = [
            self.tokenizer.apply_chat_template(
                [m.model_dump() for m in r.check().messages], tokenize=False, add_generation_prompt=True
            )
            for r in requests
        ]
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.model.device
        )

    def _generate_kwargs(self, params: GenerationParams) -> dict:
        kwargs: dict = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=params.stop, tokenizer=self.tokenizer)
        return kwargs

    def generate(self, requests: list[ChatRequest], params: GenerationParams) -> list[GenerationResult]:
        import torch

        inputs = self._encode(requests)
        with self._lock, torch.inference_mode():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            output = self.model.generate(**inputs, **self._generate_kwargs(params))
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        results = []
        for row in new_tokens.tolist():
            ids = [t for t in row if t != self.tokenizer.pad_token_id]
            if ids and ids[-1] == self.tokenizer.eos_token_id:
                ids, reason = ids[:-1], "stop"
            else:
                reason = "length" if len(ids) >= params.max_new_tokens else "stop"
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            results.append(GenerationResult(text=text, tokens=len(ids), finish_reason=reason, token_ids=ids))
        return results

    def stream(self, request: ChatRequest, params: GenerationParams) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        inputs = self._encode([request])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    if params.seed is not None:
                        torch.manual_seed(params.seed)
                    self.model.generate(**inputs, **self._generate_kwargs(params), streamer=streamer)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        for delta in streamer:
            if delta:
                yield delta
        thread.join()
        if errors:
            raise errors[0]
