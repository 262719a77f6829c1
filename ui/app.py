"""The stillhouse web app: one Gradio Blocks with a tab per job.

    config = AppConfig(teacher="smollm2-135m-instruct", student="smollm2-distilled")
    demo = build_app(config)
    launch_app(demo, host="127.0.0.1", port=7860)

    start(config, preset="quick", distill=True, host="127.0.0.1", port=7860)  # all of it

Tabs live in ``ui/tabs/`` (one file each); every handler reads its widgets, calls
a service (``ui.services``, one module per tab, over ``core`` and ``audit``) and renders.
Every handler is wrapped by ``ui.errors.guard``: a ``StillhouseError`` shows its message,
anything else shows "internal error, id X" while the server log gets the traceback.
Chat and blind voting are open to anyone; Distill, registration, overrides and
report export ask for the admin password (``STILLHOUSE_ADMIN_PASSWORD``).
"""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING

from ui.config import AppConfig

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["AppConfig", "build_app", "launch_app", "start"]

MAX_UPLOAD = "20mb"  # Gradio refuses larger uploads to /gradio_api/upload with 413

HEADER = """
<div class="sh-header">
  <div class="sh-brand"><b>{title}</b></div>
  <div class="sh-tagline">Distill a teacher into a student, compare them side by side, vote blind,
  and keep a tamper-evident ledger of what was made from what.</div>
  <div class="sh-models">Teacher <code>{teacher}</code> · Student <code>{student}</code>\
{waiting} · dtype <code>{dtype}</code></div>
</div>
"""

CSS = """
.sh-header {padding: 14px 18px; border-radius: 12px; margin-bottom: 6px;
  background: linear-gradient(90deg, #3b1f0e 0%, #7a4a1d 60%, #b7791f 100%); color: #fff8ec;}
.sh-header, .sh-header * {color: #fff8ec !important;}
.sh-header code {background: rgba(255,255,255,0.15); color: #fff8ec; \
padding: 1px 6px; border-radius: 6px;}
.sh-brand {font-size: 1.7em; letter-spacing: 0.04em;}
.sh-tagline {opacity: 0.9; margin-top: 2px;}
.sh-models {margin-top: 6px; font-size: 0.95em;}
.sh-verdict {padding: 10px 14px; border-radius: 10px; font-weight: 600; border: 1px solid;}
.sh-allowed {background: #e8f6ec; color: #1d6b35; border-color: #9fd5ae;}
.sh-allowed_with_conditions {background: #eef5fc; color: #1f4f7a; border-color: #a9c9e8;}
.sh-needs_review {background: #fff6e0; color: #7a5a00; border-color: #f0d27a;}
.sh-blocked {background: #fdecec; color: #8a1c1c; border-color: #f0a8a8;}
.sh-stats {font-variant-numeric: tabular-nums; opacity: 0.85;}
.sh-locked {padding: 10px 14px; border-radius: 10px; background: #fff4e5; color: #7a4a1d;
  border: 1px solid #f0c58a;}
"""


def theme() -> gr.themes.Base:
    """The app's look: warm amber on stone, rounded."""
    import gradio as gr

    return gr.themes.Soft(
        primary_hue="amber",
        secondary_hue="orange",
        neutral_hue="stone",
        radius_size="lg",
        font=[gr.themes.Font(f) for f in ("ui-sans-serif", "system-ui", "sans-serif")],
    )


def build_app(config: AppConfig) -> gr.Blocks:
    """The whole app: header, admin login, and the seven tabs."""
    import gradio as gr

    from core.dtype import serving_dtype
    from ui.errors import guard_handlers
    from ui.services.app import AppServices
    from ui.tabs import arena, audit, battle, distill, leaderboard, reports, similarity
    from ui.tabs.login import attach_oauth, build_login

    services = AppServices(config)
    dtype = serving_dtype()
    with gr.Blocks(title=f"{config.title}: distillation with a ledger", fill_width=False) as demo:
        header = gr.HTML(header_html(services, dtype), elem_id="sh-header-box")
        admin = build_login(services)
        with gr.Tabs():
            with gr.Tab("Arena", id="arena"):
                arena_live = arena.build(services)
            with gr.Tab("Battle", id="battle"):
                battle_live = battle.build(services)
            with gr.Tab("Leaderboard", id="leaderboard") as board_tab:
                leaderboard.build(services, board_tab)
            with gr.Tab("Distill", id="distill") as distill_tab:
                distill_live = distill.build(services, admin, distill_tab)
            with gr.Tab("Audit", id="audit") as audit_tab:
                audit.build(services, admin, audit_tab)
            with gr.Tab("Similarity", id="similarity"):
                similarity.build(services, admin)
            with gr.Tab("Reports", id="reports") as reports_tab:
                reports.build(services, admin, reports_tab)
        attach_oauth(demo, services, admin)
        _follow_student(demo, services, dtype, header, arena_live, battle_live, distill_live)
    guard_handlers(demo)
    demo.services = services  # type: ignore[attr-defined]  # for launch_app's warm-up
    return demo


def header_html(services, dtype: str) -> str:
    """The header; while the student is on its way it says so, with its progress."""
    view = services.student_view()
    waiting = "" if view.state == "done" else f" ({html.escape(view.line)})"
    return HEADER.format(  # names come from the operator or the ledger: escaped, never markup
        title=html.escape(services.config.title),
        teacher=html.escape(services.models.teacher_label()),
        student=html.escape(services.models.student_label()),
        waiting=waiting,
        dtype=html.escape(dtype),
    )


def _follow_student(demo, services, dtype, header, *live: dict) -> None:
    """While the student is on its way, refresh its progress on the page every 2 s (header,
    Arena, Battle, Distill; each tab hands ``{component: render(view)}``); stop once it is
    served or its run has ended."""
    import gradio as gr

    timer = gr.Timer(2.0, active=services.student_view().state in ("idle", "running"))
    components = [header, *(c for parts in live for c in parts)]
    renderers = [r for parts in live for r in parts.values()]

    def refresh():
        view = services.student_view()
        values = [header_html(services, dtype), *(render(view) for render in renderers)]
        return *values, gr.Timer(active=view.state in ("idle", "running"))

    outputs = [*components, timer]
    for event in (timer.tick, demo.load):
        event(refresh, outputs=outputs, api_visibility="private", show_progress="hidden")


HEARTBEAT_S = 1.0


def launch_app(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serve ``demo`` with the app's theme; ``block=False`` returns at once (tests, soak)."""
    services = getattr(demo, "services", None)
    if services is not None and services.config.preload:
        services.models.warm_up()
    limit = services.config.concurrency if services is not None else 8
    from ui.session import admin_routes, visitor_middleware

    # Gradio notices a visitor's closed page when its event stream next wakes: a heartbeat
    # each HEARTBEAT_S (its default is 15 s) lets a waiting Battle see within about a second
    # that its visitor left (ui.services.battle._connected), at one tiny message a second.
    os.environ.setdefault("GRADIO_HEARTBEAT_INTERVAL", str(HEARTBEAT_S))
    routes = []
    if services is not None:  # the admin sign-in: a throttled HTTP route, not a Gradio event
        routes = admin_routes(services.access, services.config.trusted_proxies)
    return demo.queue(default_concurrency_limit=limit).launch(
        app_kwargs={"routes": routes, "middleware": visitor_middleware()},  # vote-cap identity
        server_name=host,
        server_port=port,
        show_error=False,  # ui.errors.guard decides what a visitor sees
        theme=theme(),
        css=CSS,
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=not block,
        quiet=True,
        footer_links=["api"],
        ssr_mode=False,
        run_history=False,
    )


def start(
    config: AppConfig,
    *,
    preset: str,
    distill: bool,
    host: str,
    port: int,
    block: bool = True,
    overrides: list[str] | None = None,
):
    """The main job: prepare the teacher, serve the page at once, and, when the student is
    not cached, distill it in the background (licence pre-flight first, recorded in the
    ledger); it is served as soon as it is saved. ``block=False`` returns the running demo
    (tests); ``overrides`` are extra preset overrides for that first run."""
    from core.errors import NotFoundError
    from ui.services.student import prepare_teacher, student_cached

    prepare_teacher(config)
    missing = not student_cached(config)
    if missing and not distill:
        raise NotFoundError(
            "missing_student",
            f"student '{config.student}' is not cached and --no-distill was given",
            hint="drop --no-distill, or run `stillhouse distill` first",
        )
    demo = build_app(config)
    services = demo.services  # type: ignore[attr-defined]
    services.register_served_models()
    if missing:
        services.first_distill(preset=preset, overrides=overrides)
    print(f"stillhouse: ledger {config.ledger_path()}", flush=True)
    student = services.models.student_label() + (" (on its way)" if missing else "")
    print(
        f"stillhouse: serving {services.models.teacher_label()} vs {student} "
        f"on http://{host}:{port}",
        flush=True,
    )
    if not block:
        launch_app(demo, host=host, port=port, block=False)
        return demo
    try:
        launch_app(demo, host=host, port=port)
    finally:
        services.models.close()
    return None
