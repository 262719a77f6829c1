"""Attacks on the web app (issue 14, problems 1 and 6), against the live app on loopback."""

from __future__ import annotations

import gc

import httpx
import pytest

from core.errors import InputError

pytestmark = pytest.mark.timeout(300)


def live_models() -> int:
    from transformers import PreTrainedModel

    gc.collect()
    return sum(isinstance(o, PreTrainedModel) for o in gc.get_objects())


def test_a_visitor_cannot_probe_a_server_path(live_app, tiny_model_dir):
    """Problem 1: any visitor could load any folder on the server, and learn which exist."""
    from gradio_client import Client

    client = Client(live_app.url + "/", verbose=False)
    before = live_models()
    for path in (str(tiny_model_dir), "/etc", "/no/such/folder"):
        with pytest.raises(Exception) as refused:
            client.predict(path, path, [], 4, 16, api_name="/similarity_probe")
        text = str(refused.value)
        assert "pick the models from the lists" in text and path not in text
    assert live_models() == before


def test_probed_models_are_released_afterwards(live_app, tiny_model_dir, tmp_path):
    """Problem 1: each probe loaded a model afresh and never freed it (836 MB -> 2.51 GB)."""
    from core.tiny import make_tiny_model

    services = live_app.services
    baseline = make_tiny_model(tmp_path / "baseline", n_layers=2, seed=9)
    services.store.register_model("baseline-x", license="mit", path=baseline)
    names = services.similarity.model_names()
    assert "baseline-x" in names
    services.models.backend("teacher"), services.models.backend("student")
    before = live_models()
    for _ in range(3):
        try:  # random tiny models may answer with nothing scorable; memory must return anyway
            view = services.similarity.probe(
                services.models.student_label(),
                services.models.teacher_label(),
                ["baseline-x"],
                prompts=4,
                max_new_tokens=8,
            )
            assert "Replication risk" in view.risk
        except InputError as error:
            assert "non-empty answer" in error.message
        assert live_models() == before  # the baseline's model was closed and dropped


def test_uploads_over_the_limit_are_refused(live_app):
    """Problem 6: /gradio_api/upload took any size."""
    big = b"x" * (21 * 1024 * 1024)
    response = httpx.post(
        f"{live_app.url}/gradio_api/upload", files={"files": ("big.jsonl", big)}, timeout=60
    )
    assert response.status_code == 413


def test_errors_about_uploaded_files_name_no_server_folder(live_app, tmp_path):
    """Problem 1: errors told visitors about the server's folders."""
    folder = tmp_path / "gradio-uploads" / "0123abcd"
    folder.mkdir(parents=True)
    bad = folder / "answers.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(InputError) as refused:
        live_app.services.similarity.files(str(bad), str(bad), [], None)
    assert "answers.jsonl" in refused.value.message
    assert str(folder) not in refused.value.message
