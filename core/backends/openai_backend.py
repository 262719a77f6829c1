"""Any OpenAI-compatible chat-completions server as a Backend (vllm serve, TGI, a hosted API, ours).

    spec = ModelSpec(name="student", source="openai", base_url="http://127.0.0.1:8011/v1")
    backend = OpenAIBackend(spec, timeout_s=30)
    print("".join(backend.stream(ChatRequest.from_prompt("Hi"), GenerationParams())))

The API key comes from ``STILLHOUSE_OPENAI_API_KEY`` or else ``OPENAI_API_KEY`` (none
is sent when neither is set). Connection failures, timeouts, 429 and 5xx answers are
retried with exponential backoff (``retries`` times, starting at ``backoff_s``); a
stream is only retried before its first byte. Every failure ends as one
``BackendError`` naming the server: unreachable, timed out, refused, or a malformed
event stream (bad JSON, a line that is not server-sent events, or a stream that ends
without ``[DONE]`` or a finish reason). Batches are sent as concurrent requests, so a
batching server answers them together. Per-token log-probabilities are not mapped
(servers return token strings, not our ids).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from core.backends.protocol import (
    BackendHealth,
    BackendInfo,
    GenerationResult,
    StreamChunk,
    text_deltas,
)
from core.errors import BackendError, InputError
from core.generation import ChatRequest, GenerationParams
from core.specs import ModelSpec

API_KEY_VARS = ("STILLHOUSE_OPENAI_API_KEY", "OPENAI_API_KEY")
_RETRY_STATUS = {429, 500, 502, 503, 504}
_SSE_FIELDS = ("data:", "event:", "id:", "retry:", ":")


class OpenAIBackend:
    """Chat completions over HTTP with streaming, timeouts and retries."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        max_concurrency: int = 16,
    ) -> None:
        import httpx

        url = base_url or spec.base_url
        if not url:
            raise InputError(
                "missing_base_url", f"model '{spec.name}' has no server URL (base_url)"
            )
        self.spec, self.base_url = spec, url.rstrip("/")
        self.api_model = spec.api_model or spec.name
        self.retries, self.backoff_s, self.max_concurrency = retries, backoff_s, max_concurrency
        key = api_key or next((os.environ[v] for v in API_KEY_VARS if os.environ.get(v)), None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
        )

    def info(self) -> BackendInfo:
        return BackendInfo(name=self.spec.name, engine="openai", device="remote")

    def health(self) -> BackendHealth:
        """Asks the server's ``/models`` once, without retries."""
        import httpx

        if self._client.is_closed:
            return BackendHealth(ok=False, detail="closed")
        try:
            response = self._client.get("/models")
        except httpx.HTTPError as exc:
            return BackendHealth(ok=False, detail=f"cannot reach {self.base_url}: {exc}")
        ok = response.status_code < 400
        return BackendHealth(
            ok=ok, detail=f"{self.base_url}/models answered {response.status_code}"
        )

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        self._client.close()

    def generate(
        self, requests: list[ChatRequest], params: GenerationParams
    ) -> list[GenerationResult]:
        """One request per chat, sent concurrently."""
        for request in requests:
            request.check()
        if len(requests) <= 1:
            return [self._complete(r, params) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(requests))) as pool:
            return list(pool.map(lambda r: self._complete(r, params), requests))

    def stream(self, request: ChatRequest, params: GenerationParams) -> Iterator[str]:
        return text_deltas(self.stream_chunks(request, params))

    def stream_chunks(
        self, request: ChatRequest, params: GenerationParams
    ) -> Iterator[StreamChunk]:
        """One chunk per server event; the last carries the finish reason."""
        body = {
            **self._body(request, params),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with contextlib.closing(self._send(body, stream=True)) as response:
            counted, finish = 0, None
            for payload in _events(response, self.base_url):
                if payload.get("usage") and finish is not None:
                    extra = max(0, int(payload["usage"].get("completion_tokens") or 0) - counted)
                    yield StreamChunk(
                        tokens=extra,
                        finish_reason=finish,
                        prompt_tokens=payload["usage"].get("prompt_tokens"),
                    )
                    return
                for choice in payload.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content") or ""
                    counted += bool(text)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if text:
                        yield StreamChunk(text=text, tokens=1)
            if finish is None:
                raise BackendError(
                    "malformed_stream", f"{self.base_url} ended the stream without a finish reason"
                )
            yield StreamChunk(finish_reason=finish)

    # -- HTTP ------------------------------------------------------------------------
    def _body(self, request: ChatRequest, params: GenerationParams) -> dict:
        body: dict = {
            "model": self.api_model,
            "messages": [m.model_dump() for m in request.check().messages],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = params.stop
        return body

    def _complete(self, request: ChatRequest, params: GenerationParams) -> GenerationResult:
        response = self._send(self._body(request, params), stream=False)  # body read in full
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(
                "malformed_response", f"{self.base_url} sent a malformed completion: {exc}"
            ) from exc
        return GenerationResult(
            text=text,
            tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=usage.get("prompt_tokens"),
        )

    def _send(self, body: dict, *, stream: bool):
        """POST with retries; returns an open response (a context manager) with a 2xx status."""
        import httpx

        if self._client.is_closed:
            raise BackendError("backend_closed", f"the client for {self.base_url} is closed")
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._client.send(
                    self._client.build_request("POST", "/chat/completions", json=body),
                    stream=stream,
                )
            except httpx.TimeoutException as exc:
                if last:
                    raise BackendError(
                        "server_timeout",
                        f"{self.base_url} did not answer in time ({exc.__class__.__name__})",
                    ) from exc
            except httpx.TransportError as exc:
                if last:
                    raise BackendError(
                        "server_unreachable",
                        f"cannot reach {self.base_url}: {exc}",
                        hint="is the server running, and is the URL right (ending in /v1)?",
                    ) from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in _RETRY_STATUS or last:
                    raise _http_error(response, self.base_url)
                response.close()
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises


def _http_error(response, base_url: str) -> BackendError | InputError:
    response.read()
    try:
        message = response.json()["error"]["message"]
    except Exception:
        message = response.text[:200] or response.reason_phrase
    response.close()
    status = response.status_code
    if status in (401, 403):
        return BackendError(
            "unauthorized",
            f"{base_url} refused the API key ({status}): {message}",
            hint="set STILLHOUSE_OPENAI_API_KEY or OPENAI_API_KEY",
        )
    if 400 <= status < 500:
        return InputError(
            "request_refused", f"{base_url} refused the request ({status}): {message}"
        )
    return BackendError("server_error", f"{base_url} failed ({status}): {message}")


def _events(response, base_url: str) -> Iterator[dict]:
    """JSON payloads of a server-sent event stream, until ``[DONE]``; malformed input raises."""
    import httpx

    try:
        for line in response.iter_lines():
            line = line.strip()
            if not line:
                continue
            if not line.startswith(_SSE_FIELDS):
                raise BackendError(
                    "malformed_stream",
                    f"{base_url} sent a line that is not an event: {line[:80]!r}",
                )
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                payload = json.loads(data)
            except ValueError as exc:
                raise BackendError(
                    "malformed_stream", f"{base_url} sent an event that is not JSON: {data[:80]!r}"
                ) from exc
            if not isinstance(payload, dict):
                raise BackendError(
                    "malformed_stream",
                    f"{base_url} sent an event that is not an object: {data[:80]!r}",
                )
            if "error" in payload:
                error = payload["error"]
                message = error.get("message") if isinstance(error, dict) else str(error)
                raise BackendError("server_error", f"{base_url} failed mid-stream: {message}")
            yield payload
    except httpx.TimeoutException as exc:
        raise BackendError("server_timeout", f"{base_url} stopped sending (read timeout)") from exc
    except httpx.TransportError as exc:
        raise BackendError(
            "server_unreachable", f"lost the connection to {base_url}: {exc}"
        ) from exc
