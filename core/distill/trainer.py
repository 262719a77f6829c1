"""``DistillTrainer``: a ``transformers.Trainer`` that adds a distillation loss to cross-entropy.

    trainer = DistillTrainer(model=student, args=training_args(config, out_dir),
                             train_dataset=DistillDataset(sequences, cache), data_collator=collate,
                             kd=KDSettings.from_config(config))
    trainer.train()

Loss per optimizer step = (kd_weight * T**2 * sum KD + ce_weight * sum CE) / N, where N is the
number of target tokens in the whole gradient-accumulation window (over all processes under
DDP), which ``Trainer`` passes in as ``num_items_in_batch``. Batches carry the teacher's cached
top-k rows (offline KD); without them the trainer runs the ``teacher`` model itself (dense KD).
Against the cache, the output head and the loss run on the target positions only (from the
student's last hidden state, ``core.distill.chunked``); with ``kd_chunk > 0`` a chunk of
positions at a time, never holding the batch's full-vocabulary logits. Top-k ids beyond the
student's vocabulary (padded teacher embeddings) are guarded.
Everything else (accelerate, DDP/FSDP/DeepSpeed, bf16 autocast, gradient checkpointing,
checkpoints, resume) is ``Trainer``'s own; ``gather_student`` has every rank take part in the
state-dict gather of a sharded (FSDP / ZeRO-3) student before the main process saves it.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback, TrainingArguments

from core.distill import losses
from core.distill.chunked import chunked_kd, guard_vocab, pad_column


@dataclass(frozen=True)
class KDSettings:
    loss: str = "forward_kl"
    temperature: float = 1.0
    kd_weight: float = 1.0
    ce_weight: float = 0.0
    beta: float = 0.5
    alpha: float = 0.1
    chunk: int = 0

    @classmethod
    def from_config(cls, config) -> KDSettings:
        return cls(
            loss=config.loss,
            temperature=config.temperature,
            kd_weight=config.kd_weight,
            ce_weight=config.ce_weight,
            beta=config.beta,
            alpha=config.alpha,
            chunk=getattr(config, "kd_chunk_tokens", 0),
        )


def training_args(config, output_dir: Path, **extra: Any) -> TrainingArguments:
    """``TrainingArguments`` for a ``DistillConfig``."""
    import os

    import torch

    cuda = torch.cuda.is_available()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    settings: dict[str, Any] = dict(
        output_dir=str(output_dir),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        warmup_steps=int(config.warmup_ratio * config.max_steps),
        lr_scheduler_type=config.lr_scheduler,
        weight_decay=config.weight_decay,
        bf16=config.bf16,
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        logging_steps=config.logging_steps,
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not cuda,
        ddp_backend="gloo" if distributed and not cuda else None,
        disable_tqdm=False,
    )
    if getattr(config, "gradient_checkpointing", False):
        settings.update(
            gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    settings.update(extra)
    return TrainingArguments(**settings)


class DistillTrainer(Trainer):
    """Cross-entropy plus a KD divergence against cached top-k or live teacher logits."""

    loss_is_scaled_for_ga = True

    def __init__(self, *args, kd: KDSettings, teacher=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kd = kd
        self.teacher = teacher
        if kd.chunk:
            _check_chunking(self.accelerator)
        self._kd_sum = 0.0
        self._kd_tokens = 0.0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        import torch

        labels = inputs.pop("labels")
        cached = {k: inputs.pop(k) for k in list(inputs) if k.startswith("topk_")}
        targets = labels[:, 1:]
        mask = targets != -100
        count = num_items_in_batch if num_items_in_batch is not None else mask.sum()
        if cached:
            outputs, kd_sum, ce = self._target_sums(model, inputs, cached, targets, mask)
        else:
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            logits = outputs.logits[:, :-1]
            kd_sum = self._dense_kd_sum(logits, inputs, mask)
            ce = None
            if self.kd.ce_weight:
                ce = torch.nn.functional.cross_entropy(
                    logits.float().reshape(-1, logits.shape[-1]),
                    targets.reshape(-1),
                    ignore_index=-100,
                    reduction="sum",
                )
        loss = self.kd.kd_weight * self.kd.temperature**2 * kd_sum
        if self.kd.ce_weight and ce is not None:
            loss = loss + self.kd.ce_weight * ce
        loss = loss / count
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        self._kd_sum += float(kd_sum.detach())
        self._kd_tokens += float(mask.sum())
        return (loss, outputs) if return_outputs else loss

    def _dense_kd_sum(self, logits, inputs, mask):
        """KD against the teacher model's full logits, run on the batch (no cache)."""
        import torch

        if self.teacher is None:
            raise ValueError("DistillTrainer needs a teacher model or cached top-k rows")
        with torch.no_grad():
            teacher_logits = self.teacher(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
            ).logits[:, :-1]
        vocab = min(logits.shape[-1], teacher_logits.shape[-1])  # padded embedding sizes may differ
        kw = {"beta": self.kd.beta, "alpha": self.kd.alpha}
        return losses.dense_loss(
            self.kd.loss,
            logits[..., :vocab],
            teacher_logits[..., :vocab],
            temperature=self.kd.temperature,
            mask=mask,
            reduction="sum",
            **kw,
        )

    def _target_sums(self, model, inputs, cached, targets, mask):
        """KD (and CE) sums against the cached rows, from the student's last hidden state: the
        output head and the vocabulary-wide loss run on target positions only (an answer-only
        run skips the prompt and the padding), ``kd.chunk`` positions at a time when set."""
        import torch

        empty = torch.empty(0, dtype=torch.long, device=inputs["input_ids"].device)
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            output_hidden_states=True,
            logits_to_keep=empty,  # the model computes no logits; chunked_kd does
        )
        hidden = outputs.hidden_states[-1][:, :-1]
        head = self.accelerator.unwrap_model(model).get_output_embeddings()
        ids, logprobs, tail, padded = guard_vocab(
            cached["topk_ids"][:, :-1],
            cached["topk_logprobs"][:, :-1],
            cached["topk_tail"][:, :-1],
            head.weight.shape[0],
        )
        # Sampled-tail columns (core.distill.tail); a padded vocabulary falls back to the tail
        # bucket, since the samples may name tokens the student does not have.
        names = ("entropy", "sample_ids", "sample_logprobs")
        sampled = not padded and all(f"topk_{n}" in cached for n in names)
        extra = [cached[f"topk_{n}"][:, :-1] for n in names] if sampled else []
        name, kw = self.kd.loss, {"beta": self.kd.beta, "alpha": self.kd.alpha}

        def kd_rows(logits, ids, logprobs, tail, *samples):
            logits = pad_column(logits) if padded else logits
            columns = dict(zip(names, samples, strict=True)) if samples else {}
            return losses.topk_loss(
                name,
                logits,
                ids,
                logprobs,
                tail,
                temperature=self.kd.temperature,
                reduction="none",
                **kw,
                **columns,
            )

        kd_sum, ce = chunked_kd(
            hidden,
            head,
            mask,
            targets.clamp(min=0),
            kd_rows,
            teacher=(ids, logprobs, tail, *extra),
            chunk=self.kd.chunk,
            ce=bool(self.kd.ce_weight),
        )
        return outputs, kd_sum, ce

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Add the mean KD divergence per token since the last log (nats/token) to each loss log."""
        if "loss" in logs and self._kd_tokens:
            logs["kd"] = round(self._kd_sum / self._kd_tokens, 4)
            self._kd_sum = self._kd_tokens = 0.0
        super().log(logs, *args, **kwargs)


class StopOnSignal(TrainerCallback):
    """First Ctrl-C: finish the current step, save a checkpoint and stop. Second Ctrl-C: abort."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        return control


class PeakMemory(TrainerCallback):
    """On CUDA: note the peak GPU memory of each logged step (reset after each), e.g.
    ``step 10: peak GPU memory 13,912 MiB``. Nothing without CUDA."""

    def __init__(self, progress) -> None:
        self.progress = progress

    def on_step_begin(self, args, state, control, **kwargs):
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        import torch

        if torch.cuda.is_available() and state.global_step % max(args.logging_steps, 1) == 0:
            peak = torch.cuda.max_memory_allocated() / 2**20
            self.progress.note(f"step {state.global_step}: peak GPU memory {peak:,.0f} MiB")
        return control


class ReportProgress(TrainerCallback):
    """Forward training progress (step / max_steps) to a ``Progress``."""

    def __init__(self, progress) -> None:
        self.progress = progress

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.report(
            state.global_step / max(state.max_steps, 1), f"training step {state.global_step}"
        )
        return control


def _check_chunking(accelerator) -> None:
    """The chunked loss calls the output head outside the model's forward: fine on one device
    and under DDP, wrong where the head's weight is sharded."""
    from accelerate.utils import DistributedType

    from core.errors import InputError

    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        raise InputError(
            "kd_chunk_sharded",
            "kd_chunk_tokens works on one device and under DDP, not with a sharded student "
            f"({accelerator.distributed_type.value})",
            hint="set kd_chunk_tokens=0 with FSDP / ZeRO-3, or use data/accelerate/ddp.yaml",
        )


def is_sharded(trainer) -> bool:
    """True under FSDP or DeepSpeed: the student's parameters are split across processes."""
    from accelerate.utils import DistributedType

    sharded = (DistributedType.FSDP, DistributedType.DEEPSPEED)
    return trainer.accelerator.distributed_type in sharded


def gather_student(trainer, student, *, main: bool):
    """The whole student for saving. Every rank must call this: under FSDP or DeepSpeed ZeRO-3
    the parameters are sharded and the gather is a collective (a rank that skips it hangs the
    others). The main process gets a plain model with the full weights; other ranks get
    ``student`` back. Under DDP or one device nothing is gathered."""
    from accelerate.utils import DistributedType

    accelerator = trainer.accelerator
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        state = accelerator.get_state_dict(trainer.model_wrapped)  # ZeRO-3 16-bit gather
    elif accelerator.distributed_type == DistributedType.FSDP:
        state = full_state_dict(trainer.model_wrapped)
    else:
        return student
    if not main:
        return student
    return full_model(accelerator.unwrap_model(trainer.model).config, state)


def full_state_dict(model) -> dict[str, Any]:
    """The full (unsharded) state dict of an FSDP (1 or 2) model, on the CPU of rank 0 (other
    ranks get ``{}``). A collective: every rank calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def full_model(config, state: dict[str, Any]):
    """A plain causal LM built from ``config`` holding a gathered state dict."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if unexpected or set(missing) - tied:
        from core.errors import IntegrityError

        raise IntegrityError(
            "bad_gathered_state",
            f"the gathered student does not fit its config: missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}",
        )
    model.tie_weights()
    return model.eval()


def steps_for(config, records: int, world_size: int) -> int:
    """Optimizer steps for ``config.epochs`` passes over ``records`` sequences (at least 1)."""
    import math

    per_step = config.batch_size * config.grad_accum * max(world_size, 1)
    return max(1, math.ceil(config.epochs * records / per_step))
