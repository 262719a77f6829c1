"""Similarity: was the candidate copied from the reference? Probe live models or score files.

A candidate and a reference answer the same probe prompts; their similarity is compared
with unrelated baselines on the same prompts, giving a calibrated replication risk with a
p-value, not a raw cosine. Every score is recorded in the ledger.
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices
from ui.services.similarity import METRIC_HEADERS


def _answers_file(label: str, **kwargs) -> gr.File:
    """An upload box for one (or, with ``file_count="multiple"``, several) JSONL files."""
    return gr.File(label=label, file_types=[".jsonl"], type="filepath", height=110, **kwargs)


def build(services: AppServices, admin: gr.State) -> None:
    gr.Markdown(
        "Did one model learn to **copy** another? Similarity is judged against *baselines* "
        "(unrelated models on the same prompts): risk is high only when the candidate is closer to "
        "the reference than every baseline, with a small p-value. Pick the served models or the "
        "models registered in the ledger; only an admin may type a folder or a hub id."
    )
    models = services.similarity.model_names()
    with gr.Tabs():
        with gr.Tab("Probe models"):
            with gr.Row():
                candidate = gr.Dropdown(
                    models,
                    value=services.models.student_label(),
                    label="Candidate (suspected copy)",
                    allow_custom_value=True,  # a path or hub id: admins only (checked on run)
                )
                reference = gr.Dropdown(
                    models,
                    value=services.models.teacher_label(),
                    label="Reference (original)",
                    allow_custom_value=True,
                )
                baselines = gr.Dropdown(
                    models,
                    multiselect=True,
                    label="Baselines (unrelated models)",
                    allow_custom_value=True,
                )
            with gr.Row():
                prompts = gr.Slider(4, 64, value=16, step=4, label="Probe prompts")
                tokens = gr.Slider(16, 256, value=64, step=16, label="Max new tokens per answer")
                probe = gr.Button("Run probe", variant="primary", elem_id="similarity-probe")
        with gr.Tab("Score uploaded answers"):
            gr.Markdown('JSONL files of `{"prompt_id", "text"}` answers to the same prompts.')
            with gr.Row():
                ref_file = _answers_file("Reference answers", elem_id="similarity-reference")
                cand_file = _answers_file("Candidate answers", elem_id="similarity-candidate")
                base_files = _answers_file(
                    "Baseline answers (one or more)",
                    file_count="multiple",
                    elem_id="similarity-baselines",
                )
                protected = _answers_file("Protected passages (optional)")
            score = gr.Button("Score files", variant="primary", elem_id="similarity-score")
    risk = gr.HTML(elem_id="similarity-risk")
    with gr.Row(equal_height=True):
        with gr.Column(scale=3):
            metrics = gr.Dataframe(
                headers=METRIC_HEADERS, interactive=False, show_label=False, wrap=True
            )
            notes = gr.Markdown()
        plot = gr.Image(type="filepath", show_label=False, interactive=False, scale=2)

    def run_probe(
        cand: str,
        ref: str,
        bases: list[str],
        n: float,
        max_tokens: float,
        is_admin: bool,
        progress=gr.Progress(),
    ):
        progress(None, desc="the models are answering the probe prompts")
        found = services.similarity.probe(
            cand,
            ref,
            bases or [],
            prompts=int(n),
            max_new_tokens=int(max_tokens),
            admin=bool(is_admin),
        )
        return found.risk, found.metrics, found.notes, found.plot

    def run_files(ref: str | None, cand: str | None, bases: list[str] | None, prot: str | None):
        if not ref or not cand:
            raise gr.Error("Upload at least the reference and the candidate answers.")
        found = services.similarity.files(ref, cand, bases or [], prot)
        return found.risk, found.metrics, found.notes, found.plot

    outputs = [risk, metrics, notes, plot]
    probe.click(
        run_probe,
        [candidate, reference, baselines, prompts, tokens, admin],
        outputs,
        api_name="similarity_probe",
    )
    score.click(
        run_files,
        [ref_file, cand_file, base_files, protected],
        outputs,
        api_name="similarity_score",
    )
