"""A minimal chat page with one model, for ``make run`` until the full app lands."""

from __future__ import annotations


def build_chat_page(model_name: str = "smollm2-135m-instruct"):
    """A Gradio ChatInterface that streams the model's answers."""
    import gradio as gr

    from core.backends import backend_for
    from core.generation import ChatMessage, ChatRequest, GenerationParams
    from core.models import resolve_model

    backend = backend_for(resolve_model(model_name))

    def respond(message: str, history: list[dict]):
        if not message.strip():
            raise gr.Error("the prompt is empty")
        turns = [ChatMessage(role=h["role"], content=str(h["content"])) for h in history]
        request = ChatRequest(messages=[*turns, ChatMessage(role="user", content=message)])
        text = ""
        for delta in backend.stream(request, GenerationParams(max_new_tokens=256)):
            text += delta
            yield text

    return gr.ChatInterface(respond, title=f"stillhouse: chat with {model_name}")
