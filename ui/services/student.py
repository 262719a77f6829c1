"""The student the app serves: its default name, and distilling it on first start.

    name = default_student("smollm2-135m-instruct", "quick")   # what the preset names it
    name = ensure_student(config, preset="quick", distill=True)  # prepared, distilled if missing

``ensure_student`` is what ``stillhouse app`` and the Space entry (root ``app.py``) run
before serving: it prepares the teacher, and when the student is not cached it distills
it behind the same licence pre-flight gate as ``stillhouse distill``, recorded in the
ledger. Progress goes to the terminal.
"""

from __future__ import annotations

from core.errors import InputError, NotFoundError
from ui.config import AppConfig


def default_student(teacher: str, preset: str) -> str:
    """The name core.distill gives the student of ``teacher`` under ``preset``."""
    from core.distill.config import load_preset

    return load_preset(preset, [f"teacher={teacher}"]).student_name


def ensure_student(config: AppConfig, *, preset: str, distill: bool) -> str:
    """Prepare the teacher; distill the student with ``preset`` unless it is already there."""
    from core.models import prepare_model, resolve_model

    print(f"stillhouse: preparing teacher {config.teacher}", flush=True)
    prepare_model(resolve_model(config.teacher), progress=True)
    try:
        resolve_model(config.student)
        return config.student
    except NotFoundError:
        if not distill:
            raise NotFoundError(
                "missing_student",
                f"student '{config.student}' is not cached and --no-distill was given",
                hint="drop --no-distill, or run `stillhouse distill` first",
            ) from None
    from audit.ledger.store import Store
    from audit.licences.gate import preflight_gate
    from core.distill.config import load_preset
    from core.distill.run import check_inputs
    from core.distill.run import distill as run_distill
    from ui.services.distill import preflight_request

    print(
        f"stillhouse: no student cached: distilling {config.student} from {config.teacher} "
        f"with the '{preset}' preset (once; later starts reuse it)",
        flush=True,
    )
    dconfig = load_preset(preset, [f"teacher={config.teacher}", f"student_name={config.student}"])
    check_inputs(dconfig)  # a bad prompt file fails before the pre-flight is recorded
    gate = preflight_gate(Store(config.ledger_path()), preflight_request(dconfig, "commercial"))
    print(f"stillhouse: licence pre-flight: {gate.result.verdict}", flush=True)
    if gate.refused:
        raise InputError(
            "preflight_blocked",
            "licence pre-flight verdict is blocked: not distilling (recorded in the ledger)",
            hint="see `stillhouse audit` or run `stillhouse distill` with --override-reason",
        )
    result = run_distill(dconfig, recorder=gate.recorder, progress=True)
    print(f"stillhouse: student saved in {result.student_dir} (run {result.run_id})", flush=True)
    print(result.table, flush=True)
    return result.student_name
