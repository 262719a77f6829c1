"""Live servers on loopback for the attack replays: serve-api over a tiny 2-layer model.

``slow_backend`` adds a fixed delay to every forward pass (a real model, just slower), so
that cancellation and fairness can be seen in step counts and wall time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.live_server import Server, free_port


def _tiny_backend(tiny_model_dir):
    from core.backends import backend_for
    from core.models import resolve_model

    return backend_for(resolve_model(str(tiny_model_dir)))


@contextmanager
def _serve_api(backend) -> Iterator[Server]:
    from core.api_server import create_app

    with Server(create_app(backend, model_name="tiny-llama")) as server:
        yield server


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    local = _tiny_backend(tiny_model_dir)
    yield local
    local.close()


@pytest.fixture(scope="module")
def api(backend):
    with _serve_api(backend) as server:
        yield server


@pytest.fixture(scope="module")
def slow_backend(tiny_model_dir):
    """The tiny model with 20 ms added to every forward pass."""
    local = _tiny_backend(tiny_model_dir)
    local.model.register_forward_pre_hook(lambda module, args: time.sleep(0.02))
    yield local
    local.close()


@pytest.fixture(scope="module")
def slow_api(slow_backend):
    with _serve_api(slow_backend) as server:
        yield server


@contextmanager
def launched_app(teacher, student, folder, **settings):
    """The real app (a fresh ledger in ``folder``) on a free loopback port; ``settings``
    override ``AppConfig`` fields."""
    from ui.app import build_app, launch_app
    from ui.config import AppConfig

    defaults = {"admin_password": "correct horse battery staple", "preload": False}
    config = AppConfig(
        teacher=str(teacher),
        student=str(student),
        db_path=str(folder / "ledger.duckdb"),
        **{**defaults, **settings},
    )
    demo = build_app(config)
    port = free_port()
    launch_app(demo, host="127.0.0.1", port=port, block=False)
    demo.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def live_app(tiny_model_dir, tiny_teacher_dir, tmp_path_factory):
    """The real app (tiny teacher and student, a fresh ledger) on a free loopback port."""
    folder = tmp_path_factory.mktemp("live-app")
    with launched_app(tiny_teacher_dir, tiny_model_dir, folder) as demo:
        yield demo
