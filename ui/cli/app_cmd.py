"""``stillhouse app``: serve the web app."""

from __future__ import annotations

import typer


def serve_app(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(7860, "--port", help="Port to listen on."),
    model: str = typer.Option("smollm2-135m-instruct", "--model", help="Model to chat with."),
) -> None:
    """Serve the chat page on http://HOST:PORT."""
    from core.models import offline_env

    offline_env()
    from ui.chat_page import build_chat_page

    print(f"stillhouse: serving on http://{host}:{port}", flush=True)
    build_chat_page(model).queue().launch(server_name=host, server_port=port, show_error=True)


def register(app: typer.Typer) -> None:
    app.command("app")(serve_app)
