"""Distill (admin): teacher, student start, preset and data; licence pre-flight; run; scorecard.

The pre-flight verdict and its findings show as soon as the form changes, before Start.
Start runs ``core.distill`` behind the same pre-flight gate as ``stillhouse distill``
(a blocked verdict needs a written override reason, which is recorded), with a progress
bar and ETA, a loss plot that fills in as checkpoints are written, and at the end the
scorecard: is the small model worth it?
"""

from __future__ import annotations

import gradio as gr

from core.errors import StillhouseError
from core.licence_facts import ENTITIES, STUDENT_TYPES
from ui.services.app import AppServices
from ui.services.distill import Eta, distill_choices
from ui.services.scorecard import HEADERS
from ui.tabs.login import locked_notice

PRUNE, FROM_MODEL = "Prune the teacher (keep N layers)", "Start from a smaller model"
LOCKED = "Distillation needs an admin login. Nothing was started."
TITLE = "### Scorecard: is the small model worth it?"


def build(services: AppServices, admin: gr.State, tab: gr.Tab) -> dict:
    """The tab; returns ``{component: render(student view)}`` for the app's student refresh."""
    choices = distill_choices()
    first_run = gr.HTML(first_run_html(services.student_view()), elem_id="distill-first-run")
    locked_notice("Distillation trains and saves models on this machine.", admin)
    gr.Markdown(
        "Pick a teacher, a student start point, a preset and the prompt data. The licence "
        "**pre-flight** runs before anything starts; every run lands in the ledger."
    )
    with gr.Row():
        teacher = gr.Dropdown(
            _with(choices.teachers, services.config.teacher),
            value=services.config.teacher,
            label="Teacher",
            allow_custom_value=True,
        )
        preset = gr.Dropdown(
            choices.presets, value="quick" if "quick" in choices.presets else None, label="Preset"
        )
        student_name = gr.Textbox(label="Student name", placeholder="the preset's name")
    with gr.Row():
        start_mode = gr.Radio([PRUNE, FROM_MODEL], value=PRUNE, label="Student start")
        n_layers = gr.Slider(1, 32, value=22, step=1, label="Layers to keep (prune)")
        student_from = gr.Dropdown(
            _with(choices.teachers, services.config.student),
            value=None,
            visible=False,
            label="Smaller model (same tokenizer)",
            allow_custom_value=True,
        )
    with gr.Row(equal_height=True):
        prompts = gr.Dropdown(
            choices.prompt_sets,
            value=choices.prompt_sets[0] if choices.prompt_sets else None,
            label="Prompt set (JSONL)",
            allow_custom_value=True,
            scale=3,
        )
        upload = gr.UploadButton(
            "Upload a JSONL prompt set", file_types=[".jsonl"], type="filepath", scale=1
        )
    with gr.Row():
        license_id = gr.Dropdown(choices.licenses, value="apache-2.0", label="Prompt data licence")
        use = gr.Radio(["commercial", "research"], value="commercial", label="Intended use")
        max_steps = gr.Number(value=0, precision=0, minimum=0, label="Max steps (0 = preset's)")
    with gr.Accordion("Licence facts the pre-flight needs", open=False):
        with gr.Row():
            mau = gr.Number(value=None, precision=0, minimum=0, label="Monthly active users")
            entity = gr.Dropdown(
                ["", *ENTITIES], value="", label="Licensee is a", elem_id="distill-entity"
            )
            region = gr.Textbox(label="Licensee's country (ISO code) or EU", max_length=2)
        with gr.Row():
            release = gr.Dropdown(["", *choices.licenses], value="", label="Release licence")
            student_type = gr.Dropdown(list(STUDENT_TYPES), value="llm", label="Student type")
            hosted = gr.Checkbox(label="Offered to others as a service")
            multimodal = gr.Checkbox(label="Teacher is multimodal")
    with gr.Group():
        verdict = gr.HTML(elem_id="distill-verdict")
        findings = gr.Dataframe(
            headers=["Severity", "Licence", "Clause", "Finding", "Verified"],
            label="Pre-flight findings",
            interactive=False,
            wrap=True,
        )
        obligations = gr.Markdown()
    override = gr.Textbox(
        label="Override reason (only for a blocked verdict; recorded in the ledger)"
    )
    start = gr.Button("Start distillation", variant="primary", elem_id="distill-start")
    status = gr.Markdown(elem_id="distill-status")
    loss = gr.LinePlot(
        x="step",
        y="loss",
        title="Training loss (fills in as checkpoints are written)",
        label="Loss",
        height=260,
        visible=False,
    )
    curve = gr.Image(
        type="filepath", label="Loss curve of the run", interactive=False, visible=False, height=320
    )
    caption = gr.Markdown(TITLE)
    scorecard = gr.Dataframe(
        headers=HEADERS,
        label="Scorecard",
        show_label=False,
        interactive=False,
        wrap=True,
        elem_id="distill-scorecard",
    )

    form = [
        teacher,
        student_name,
        start_mode,
        n_layers,
        student_from,
        prompts,
        license_id,
        max_steps,
        mau,
        entity,
        region,
        release,
        student_type,
        hosted,
        multimodal,
    ]

    def check(preset_name: str, *values):
        *fields, use_value = values
        try:
            view = services.distill.preflight(preset_name, _overrides(*fields), use_value)
        except StillhouseError as error:
            return _badge("needs_review", f"Cannot check yet: {error.message}"), None, ""
        return _badge(view.verdict, view.summary), view.findings, view.obligations

    def run(ok: bool, preset_name: str, *values, progress=gr.Progress()):
        if not ok:
            yield LOCKED, None, gr.update(), gr.update(), gr.update()
            return
        *fields, use_value, reason = values
        eta = Eta()
        for update in services.distill.run(preset_name, _overrides(*fields), use_value, reason):
            progress(update.fraction, desc=eta(update.fraction, update.desc))
            done = update.result or {}
            yield (
                f"**{update.desc}**",
                gr.update(value=_frame(update.loss), visible=not done),
                services.distill.scorecard(done) if done else gr.update(),
                gr.update(
                    value=done.get("loss_curve_png"), visible=bool(done.get("loss_curve_png"))
                ),
                f"{TITLE} (run `{done['run_id']}`)" if done else gr.update(),
            )

    def latest():
        found = services.distill.latest()
        if not found:
            return TITLE, None, gr.update(visible=False)
        return (
            f"{TITLE} (run `{found.run_id}`)",
            found.rows,
            gr.update(value=found.loss_png, visible=bool(found.loss_png)),
        )

    start_mode.change(
        lambda mode: (gr.update(visible=mode == PRUNE), gr.update(visible=mode != PRUNE)),
        start_mode,
        [n_layers, student_from],
        api_visibility="private",
    )
    upload.upload(
        lambda path: gr.update(choices=_with(choices.prompt_sets, path), value=path),
        upload,
        prompts,
        api_visibility="private",
    )
    for widget in (
        teacher,
        preset,
        student_name,
        start_mode,
        student_from,
        prompts,
        license_id,
        use,
        mau,
        entity,
        region,
        release,
        student_type,
        hosted,
        multimodal,
    ):
        widget.change(
            check,
            [preset, *form, use],
            [verdict, findings, obligations],
            api_visibility="private",
            show_progress="hidden",
        )
    start.click(
        run,
        [admin, preset, *form, use, override],
        [status, loss, scorecard, curve, caption],
        api_name="distill_start",
    )
    tab.select(
        latest,
        outputs=[caption, scorecard, curve],
        api_visibility="private",
        show_progress="hidden",
    )
    tab.select(
        check,
        [preset, *form, use],
        [verdict, findings, obligations],
        api_visibility="private",
        show_progress="hidden",
    )
    return {first_run: first_run_html}


def first_run_html(view) -> str:
    """The first start's distillation: stage, step i/N, percent and ETA, or how it ended."""
    import html

    if view.state == "done" and not view.message:
        return ""  # the student was already cached: nothing to report
    if view.state == "done":
        return f"<div class='sh-verdict sh-allowed'>First start: {html.escape(view.message)}.</div>"
    if view.state in ("refused", "failed"):
        return (
            "<div class='sh-verdict sh-blocked'>First start: no student was distilled "
            f"({html.escape(view.message)}). The app serves the teacher alone.</div>"
        )
    return (
        "<div class='sh-verdict sh-needs_review'>First start: distilling the student in the "
        f"background. <b>{html.escape(view.line)}</b> ({view.percent:.0f}% of this stage)<br>"
        f"<progress value='{view.percent:.0f}' max='100' style='width:100%'></progress></div>"
    )


def _overrides(
    teacher,
    student_name,
    start_mode,
    n_layers,
    student_from,
    prompts,
    license_id,
    max_steps,
    *facts,
) -> dict:
    """The form as DistillConfig overrides (None keeps the preset's value)."""
    pruned = start_mode == PRUNE
    return {
        "preflight": _facts(*facts),
        "teacher": teacher,
        "student_name": student_name or None,
        "prune.layers": int(n_layers) if pruned else None,
        "student_from": None if pruned else student_from,
        "prompts": prompts,
        "prompts_license": license_id,
        "max_steps": int(max_steps) if max_steps else None,
    }


def _facts(mau, entity, region, release, student_type, hosted, multimodal) -> dict | None:
    """The licence-facts fields as the config's ``preflight:`` block (None: the preset's)."""
    given = {
        "mau": int(mau) if mau is not None else None,
        "entity": entity or None,
        "region": (region or "").strip() or None,
        "release_license": release or None,
        "student_type": student_type if student_type and student_type != "llm" else None,
        "hosted": True if hosted else None,
        "teacher_multimodal": True if multimodal else None,
    }
    block = {key: value for key, value in given.items() if value is not None}
    return block or None


def _with(options: list[str], value: str | None) -> list[str]:
    return options if not value or value in options else [value, *options]


def _badge(verdict: str, summary: str) -> str:
    import html

    text = html.escape(summary).replace("**", "")
    return f"<div class='sh-verdict sh-{verdict}'>Pre-flight: {text}</div>"


def _frame(points: list[dict]):
    import pandas as pd

    return pd.DataFrame(points, columns=["step", "loss"])
