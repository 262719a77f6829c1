"""The pre-flight gate in front of a run: check, record, refuse ``blocked`` unless overridden.

    gate = preflight_gate(
        store, PreflightRequest(teacher_license="llama3.1", ...), override_reason=None
    )
    if gate.refused: ...                 # blocked and no written override: do not run
    run_distill(config, recorder=gate.recorder)   # the run is linked to its pre-flight

Every gate is recorded in the ledger, refused ones too, and an override is recorded with
its reason. ``gate.recorder`` is the store itself, wrapped so that the pre-flight (its
findings and override) is attached to the run as soon as the run starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit.licences.preflight import PreflightRequest, PreflightResult, preflight
from core.errors import InputError
from core.recorder import ArtifactRef


class GatedRecorder:
    """A ``Recorder`` that writes to the store and links the run to its pre-flight."""

    def __init__(self, store: Any, preflight_id: str) -> None:
        self.store = store
        self.preflight_id = preflight_id

    def start_run(
        self,
        kind: str,
        *,
        config: dict[str, Any],
        seed: int | None,
        code_version: str,
        inputs: list[ArtifactRef],
    ) -> str:
        run_id = self.store.start_run(
            kind, config=config, seed=seed, code_version=code_version, inputs=inputs
        )
        self.store.link_preflight(self.preflight_id, run_id)
        return run_id

    def finish_run(
        self, run_id: str, *, outputs: list[ArtifactRef], metrics: dict[str, Any], status: str
    ) -> None:
        self.store.finish_run(run_id, outputs=outputs, metrics=metrics, status=status)


@dataclass
class Gate:
    """What the gate decided: the pre-flight result, its ledger id, and whether to run."""

    result: PreflightResult
    preflight_id: str
    refused: bool
    overridden: bool
    recorder: GatedRecorder


def preflight_gate(
    store: Any, request: PreflightRequest, override_reason: str | None = None
) -> Gate:
    """Run the pre-flight, record it (with the override, if any) and say whether the run may go."""
    if override_reason is not None and not override_reason.strip():
        raise InputError("empty_override", "--override-reason needs a written reason")
    result = preflight(request)
    blocked = result.verdict == "blocked"
    overridden = blocked and override_reason is not None
    preflight_id = store.record_preflight(
        result, request=request, override_reason=override_reason if overridden else None
    )
    return Gate(
        result=result,
        preflight_id=preflight_id,
        refused=blocked and not overridden,
        overridden=overridden,
        recorder=GatedRecorder(store, preflight_id),
    )
