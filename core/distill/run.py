"""``distill()``: the whole job, teacher data to evaluated student, as one service function.

    from core.distill.config import load_preset
    from core.distill.run import distill
    from core.recorder import NullRecorder

    result = distill(load_preset("quick"), recorder=NullRecorder(), progress=True)
    print(result.table)

Steps: the teacher answers the prompt set (cached by content), the run is recorded with its
inputs (teacher + weights hash + licence, prompt set, teacher data, held-out set), the student is
made (pruned teacher or a given model), the pruned-untrained student is scored as a baseline,
the teacher's top-k log-probs are cached, ``DistillTrainer`` trains, and the student is saved
under ``$STILLHOUSE_HOME/models/<student_name>`` and scored against the teacher. Files of the run
go to ``$STILLHOUSE_HOME/runs/<student_name>-<config hash>/``: checkpoints (for ``resume``),
``loss.png``, ``evaluation.json``. Under ``accelerate launch``/``torchrun`` every process runs
this; only the main one records, saves and evaluates.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from core.distill.config import DistillConfig, data_path
from core.distill.context import DistillResult, RunContext
from core.distill.progress import Progress
from core.errors import StillhouseError
from core.hashing import canonical_json, sha256_file, sha256_text
from core.recorder import ArtifactRef, NullRecorder, Recorder, RunStatus, code_version


class InterruptedRun(StillhouseError):
    """Training stopped on Ctrl-C after saving a checkpoint. Exit 130."""

    exit_code = 130


def config_key(config: DistillConfig) -> str:
    """Short hash of the config: the same settings resume into the same run folder."""
    return sha256_text(canonical_json(config.model_dump()))[:10]


def run_folder(config: DistillConfig) -> Path:
    from core.paths import runs_dir

    return runs_dir() / f"{config.student_name}-{config_key(config)}"


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return found[-1] if found else None


def _dataset_ref(role: str, path: Path, records: int, license: str) -> ArtifactRef:
    return ArtifactRef(
        role=role,
        kind="dataset",
        name=path.name,
        sha256=sha256_file(path),
        license=license,
        path=str(path),
        records=records,
    )


def check_inputs(config: DistillConfig) -> tuple[list[dict[str, Any]], list[str]]:
    """Read the prompt and held-out files, so a bad file fails before anything is recorded."""
    from core.distill.data import load_heldout, load_prompts

    prompts = load_prompts(data_path(config.prompts), config.max_prompts)
    return prompts, load_heldout(data_path(config.heldout))


def distill(
    config: DistillConfig,
    *,
    recorder: Recorder | None = None,
    progress: Any = True,
    resume: bool = False,
) -> DistillResult:
    """Run a distillation job end to end; see the module docstring."""
    started = time.perf_counter()
    from core.distill.data import load_heldout, load_prompts
    from core.distill.prompt_sets import prompts_file
    from core.distill.trainer import training_args
    from core.models import offline_env, prepare_model, resolve_model

    folder = run_folder(config)
    args = training_args(config, folder / "checkpoints")
    main = args.process_index == 0
    prog = Progress(progress if main else False)
    with args.main_process_first(desc="prompts"):
        prompts_path, heldout_path = prompts_file(config, prog), data_path(config.heldout)
    prompts = load_prompts(prompts_path, config.max_prompts)  # bad files fail before any work
    heldout = load_heldout(heldout_path)
    recorder = recorder if (recorder is not None and main) else NullRecorder()
    checkpoint = latest_checkpoint(folder / "checkpoints") if resume else None
    if resume and checkpoint is None:
        prog.note("no interrupted run with these settings to resume; starting a new one")
    if main and checkpoint is None and (folder / "checkpoints").exists():
        shutil.rmtree(folder / "checkpoints")
    folder.mkdir(parents=True, exist_ok=True)

    teacher_spec = resolve_model(config.teacher)
    if teacher_spec.source != "hf":
        offline_env()
    teacher_prep = prepare_model(teacher_spec)
    from core.distill.training import check_prune_early

    check_prune_early(config, teacher_prep.path)  # bad prune settings fail before any work
    with args.main_process_first(desc="teacher data"):
        data = _teacher_data(config, prompts, teacher_spec, teacher_prep.weights_sha256, prog)
    inputs = [
        ArtifactRef(
            role="teacher",
            kind="model",
            name=teacher_spec.name,
            sha256=teacher_prep.weights_sha256,
            license=teacher_spec.license,
            path=str(teacher_prep.path),
            details={"spec": teacher_spec.model_dump(exclude_none=True)},
        ),
        _dataset_ref("prompts", prompts_path, len(prompts), config.prompts_license),
        _dataset_ref("teacher_data", data.path, data.records, teacher_spec.license),
        _dataset_ref("heldout", heldout_path, len(heldout), config.heldout_license),
    ]
    from core.distill.texts import load_texts, texts_file

    with args.main_process_first(desc="ready text"):
        ready = texts_file(config)  # bad files fail here, before the run is recorded
    if ready:
        n_texts = len(load_texts(ready[0], config.max_texts))
        inputs.append(_dataset_ref("texts", ready[0], n_texts, ready[1]))
    run_id = recorder.start_run(
        "distill",
        config=config.model_dump(),
        seed=config.seed,
        code_version=code_version(),
        inputs=inputs,
    )
    ctx = RunContext(
        config=config,
        args=args,
        folder=folder,
        checkpoint=checkpoint,
        run_id=run_id,
        recorder=recorder,
        progress=prog,
        teacher_spec=teacher_spec,
        data=data,
        heldout=heldout,
        started=started,
    )
    try:
        return _train_and_finish(ctx)
    except InterruptedRun:
        raise
    except BaseException as exc:
        status: RunStatus = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        recorder.finish_run(
            run_id, outputs=[], metrics={"error": type(exc).__name__}, status=status
        )
        raise


def _teacher_data(config, prompts, teacher_spec, teacher_sha, prog):
    from core.distill.data import teacher_data
    from core.generation import GenerationParams

    params = GenerationParams(
        max_new_tokens=config.max_new_tokens, temperature=config.gen_temperature, seed=config.seed
    )
    backend = _LazyBackend(teacher_spec, config.teacher_engine, config.gen_dtype)
    try:
        data = teacher_data(
            backend,
            prompts,
            params,
            teacher_name=teacher_spec.name,
            teacher_sha256=teacher_sha,
            batch_size=config.gen_batch_size,
            progress=prog,
            generator={"engine": config.teacher_engine, "dtype": config.gen_dtype},
            samples=config.answers_per_prompt,
        )
        if config.topk and backend.is_vllm():  # the same engine writes the top-k cache
            from core.distill.vllm_topk import cache_with_vllm

            cache_with_vllm(backend.get, teacher_spec, config, data, prog)
    finally:
        backend.close()  # before anything else loads: training loads the teacher on its own
    if not data.reused:
        prog.note(f"teacher data: {data.records} answers -> {data.path}")
    return data


class _LazyBackend:
    """Load the teacher's backend only when answers are actually needed (not when cached)."""

    def __init__(self, spec, engine: str, dtype: str | None) -> None:
        self.spec, self.engine = spec, None if engine == "auto" else engine
        self.kwargs = {"dtype": dtype} if dtype else {}

    def get(self):
        from core.backends import backend_for

        if not hasattr(self, "_backend"):
            self._backend = backend_for(self.spec, engine=self.engine, **self.kwargs)
        return self._backend

    def generate(self, requests, params):
        return self.get().generate(requests, params)

    def is_vllm(self) -> bool:
        from core.backends import vllm_usable

        return self.engine == "vllm" or (self.engine is None and vllm_usable())

    def close(self) -> None:
        if hasattr(self, "_backend"):
            self._backend.close()
            del self._backend


def _train_and_finish(ctx: RunContext) -> DistillResult:
    from core.distill import training
    from core.distill.placement import teacher_load_device, teacher_on_gpu
    from core.models import load_causal_lm

    config, folder = ctx.config, ctx.folder
    if config.topk and config.student_from and not ctx.main:
        # Nothing on this rank reads the teacher: the main rank builds the cache, scores the
        # baseline and evaluates. Eight CPU copies of a 7B teacher would be 120 GB of RAM.
        from core.distill.placement import teacher_tokenizer

        ctx.teacher, ctx.tokenizer = None, teacher_tokenizer(ctx.teacher_spec)
    else:
        ctx.teacher, ctx.tokenizer = load_causal_lm(
            ctx.teacher_spec, dtype=config.teacher_dtype, device=teacher_load_device(config)
        )
    ctx.student, ctx.kept = training.make_student(ctx)
    with teacher_on_gpu(ctx.teacher, ctx.student):  # top-k mode: the teacher is off the GPU after
        ctx.baseline = training.baseline(ctx) if ctx.main else {}
        with ctx.args.main_process_first(desc="top-k cache"):
            dataset = training.build_dataset(ctx)
    if config.epochs:  # steps from the data size, not a guess
        from core.distill.trainer import steps_for

        ctx.args.max_steps = steps_for(config, len(dataset), ctx.args.world_size)
        ctx.args.warmup_steps = int(config.warmup_ratio * ctx.args.max_steps)
        ctx.progress.note(
            f"{config.epochs} epochs over {len(dataset)} sequences: {ctx.args.max_steps} steps"
        )
    trainer, stopper = training.make_trainer(ctx, dataset)
    ctx.resumed_step = training.checkpoint_step(ctx.checkpoint)
    stopper.install()
    try:
        trainer.train(resume_from_checkpoint=str(ctx.checkpoint) if ctx.checkpoint else None)
    finally:
        stopper.uninstall()
    if stopper.requested:
        saved = latest_checkpoint(folder / "checkpoints")
        outputs = (
            [ArtifactRef(role="checkpoint", kind="checkpoint", name=saved.name, path=str(saved))]
            if saved
            else []
        )
        ctx.recorder.finish_run(
            ctx.run_id,
            outputs=outputs,
            metrics={"step": trainer.state.global_step},
            status="interrupted",
        )
        raise InterruptedRun(
            "interrupted",
            f"training stopped at step {trainer.state.global_step} of "
            f"{config.max_steps}; checkpoint saved in {folder / 'checkpoints'}",
            hint="run the same command with --resume to continue",
        )
    from core.distill.trainer import gather_student, is_sharded

    sharded = is_sharded(trainer)
    ctx.student = gather_student(trainer, ctx.student, main=ctx.main)  # every rank, FSDP/ZeRO-3
    if not ctx.main:
        return DistillResult(
            run_id=ctx.run_id,
            run_dir=str(folder),
            student_name=config.student_name,
            student_dir="",
            student_sha256="",
            evaluation={},
            table="",
            eval_json="",
            teacher_data=str(ctx.data.path),
            wall_s=time.perf_counter() - ctx.started,
            # a sharded student's state_dict() is a collective the main rank does not join
            state_sha256="" if sharded else training.state_sha256(ctx.student),
        )
    with teacher_on_gpu(ctx.teacher, ctx.student):
        return training.finish(ctx, trainer)
