"""The CLI answers fast, turns errors into one line and exit 2, and never imports torch at start."""

from __future__ import annotations

import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "ui.cli"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_commands():
    done = run("--help")
    assert done.returncode == 0
    for command in ("generate", "models"):
        assert command in done.stdout


def test_cli_start_does_not_import_heavy_libraries():
    code = (
        "import sys, ui.cli; print(sorted(m for m in "
        "('torch','transformers','gradio','duckdb','vllm') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unknown_model_exits_2_with_one_line():
    done = run("generate", "--model", "no-such-model", "--prompt", "hi")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "smollm2-135m-instruct" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--prompt", "   "], "empty"),
        (["--prompt", "hi", "--max-new-tokens", "0"], "max-new-tokens"),
        (["--prompt", "hi", "--max-new-tokens", "-5"], "max-new-tokens"),
    ],
)
def test_bad_generate_input_exits_2(args, needle):
    done = run("generate", *args)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_generate_streams_from_a_local_model(tiny_model_dir):
    done = run(
        "generate", "--model", str(tiny_model_dir), "--prompt", "Hello", "--max-new-tokens", "5"
    )
    assert done.returncode == 0, done.stderr
    from core.backends import backend_for
    from core.generation import ChatRequest, GenerationParams
    from core.models import resolve_model

    expected = (
        backend_for(resolve_model(str(tiny_model_dir)))
        .generate([ChatRequest.from_prompt("Hello")], GenerationParams(max_new_tokens=5))[0]
        .text
    )
    assert done.stdout == expected + "\n"


def test_models_list_names_the_default_teacher():
    done = run("models", "list")
    assert done.returncode == 0 and "smollm2-135m-instruct" in done.stdout
