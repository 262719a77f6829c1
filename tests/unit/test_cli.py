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


def _commands():
    """Every registered command path, groups included: ("audit",), ("audit", "verify"), ..."""
    import typer

    from ui.cli import app

    found = []

    def walk(command, path):
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def _main(capsys, *argv: str) -> tuple[int, str]:
    from ui.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(argv))
    return done.value.code, capsys.readouterr().err


def test_every_command_refuses_an_unknown_option_with_a_usage_error(capsys):
    commands = _commands()
    assert len(commands) > 20 and (("audit", "verify") in [path for path, _ in commands])
    for path, _ in commands:
        code, err = _main(capsys, *path, "--nope")
        assert code == 2, (path, err)
        assert "No such option: --nope" in err and "Traceback" not in err, (path, err)


def test_every_missing_required_option_is_a_usage_error(capsys):
    needing = [
        path for path, command in _commands() if any(p.required for p in command.params) and path
    ]
    assert ("generate",) in needing and ("audit", "register-dataset") in needing
    for path in needing:
        code, err = _main(capsys, *path)
        assert code == 2, (path, err)
        assert "Missing" in err and "Traceback" not in err, (path, err)


def test_unknown_option_in_a_fresh_process_exits_2_without_a_traceback():
    done = run("generate", "--nope")
    assert done.returncode == 2
    assert "No such option: --nope" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "verify"],
        ["audit", "show"],
        ["audit", "report", "--run", "x", "--out", "{tmp}/r.json"],
        ["audit", "verify-report", "{tmp}/r.json"],
        ["arena", "ratings"],
        ["arena", "export", "--format", "jsonl", "--out", "{tmp}/v.jsonl"],
    ],
)
def test_readers_refuse_a_missing_ledger_and_create_nothing(args, tmp_path, capsys):
    db = tmp_path / "none" / "typo.duckdb"
    (tmp_path / "r.json").write_text("{}")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, err = _main(capsys, *argv, "--db", str(db))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"no ledger at {db}" in lines[0]
    assert not db.parent.exists()


def test_audit_verify_of_a_typo_exits_2_in_one_line_and_creates_nothing(tmp_path):
    db = tmp_path / "none" / "typo.duckdb"
    done = run("audit", "verify", "--db", str(db))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "no ledger at" in done.stderr
    assert done.stdout == "" and not db.parent.exists()


def test_writers_create_the_ledger_and_readers_then_open_it(tmp_path, capsys):
    db = tmp_path / "new" / "ledger.duckdb"
    code, err = _main(
        capsys,
        "audit",
        "register-model",
        "--name",
        "m",
        "--license",
        "apache-2.0",
        "--hf-id",
        "org/m",
        "--db",
        str(db),
    )
    assert code == 0, err
    assert db.is_file()
    code, _ = _main(capsys, "audit", "verify", "--db", str(db))
    assert code == 0


def test_a_read_only_store_never_makes_a_file(tmp_path):
    from audit.ledger.store import Store
    from core.errors import NotFoundError

    path = tmp_path / "missing" / "l.duckdb"
    with pytest.raises(NotFoundError):
        Store(path, create=False).verify()
    with pytest.raises(NotFoundError):
        Store(path, create=False).models()
    assert not path.parent.exists()
    Store(path).models()  # a writer's store makes it
    assert path.is_file() and Store(path, create=False).verify().ok
