"""``DistillTrainer``: a ``transformers.Trainer`` that adds a distillation loss to cross-entropy.

    trainer = DistillTrainer(model=student, args=training_args(config, out_dir),
                             train_dataset=DistillDataset(sequences, cache), data_collator=collate,
                             kd=KDSettings.from_config(config))
    trainer.train()

Loss per optimizer step = (kd_weight * T**2 * sum KD + ce_weight * sum CE) / N, where N is the
number of target tokens in the whole gradient-accumulation window (over all processes under
DDP), which ``Trainer`` passes in as ``num_items_in_batch``. Batches carry the teacher's cached
top-k rows (offline KD); without them the trainer runs the ``teacher`` model itself (dense KD).
Everything else (accelerate, DDP/FSDP/DeepSpeed, bf16 autocast, checkpoints, resume) is
``Trainer``'s own.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback, TrainingArguments

from core.distill import losses


@dataclass(frozen=True)
class KDSettings:
    loss: str = "forward_kl"
    temperature: float = 1.0
    kd_weight: float = 1.0
    ce_weight: float = 0.0
    beta: float = 0.5
    alpha: float = 0.1

    @classmethod
    def from_config(cls, config) -> KDSettings:
        return cls(
            loss=config.loss,
            temperature=config.temperature,
            kd_weight=config.kd_weight,
            ce_weight=config.ce_weight,
            beta=config.beta,
            alpha=config.alpha,
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
    settings.update(extra)
    return TrainingArguments(**settings)


class DistillTrainer(Trainer):
    """Cross-entropy plus a KD divergence against cached top-k or live teacher logits."""

    loss_is_scaled_for_ga = True

    def __init__(self, *args, kd: KDSettings, teacher=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kd = kd
        self.teacher = teacher
        self._kd_sum = 0.0
        self._kd_tokens = 0.0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        import torch

        labels = inputs.pop("labels")
        cached = {k: inputs.pop(k) for k in list(inputs) if k.startswith("topk_")}
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        logits = outputs.logits[:, :-1]
        targets = labels[:, 1:]
        mask = targets != -100
        count = num_items_in_batch if num_items_in_batch is not None else mask.sum()
        kd_sum = self._kd_sum_for(logits, inputs, cached, mask)
        loss = self.kd.kd_weight * self.kd.temperature**2 * kd_sum
        if self.kd.ce_weight:
            ce = torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
            loss = loss + self.kd.ce_weight * ce
        loss = loss / count
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        self._kd_sum += float(kd_sum.detach())
        self._kd_tokens += float(mask.sum())
        return (loss, outputs) if return_outputs else loss

    def _kd_sum_for(self, logits, inputs, cached, mask):
        import torch

        kw = {
            "temperature": self.kd.temperature,
            "mask": mask,
            "reduction": "sum",
            "beta": self.kd.beta,
            "alpha": self.kd.alpha,
        }
        if cached:
            return losses.topk_loss(
                self.kd.loss,
                logits,
                cached["topk_ids"][:, :-1],
                cached["topk_logprobs"][:, :-1],
                cached["topk_tail"][:, :-1],
                **kw,
                **{
                    name: cached[f"topk_{name}"][:, :-1]
                    for name in ("entropy", "sample_ids", "sample_logprobs")
                    if f"topk_{name}" in cached
                },
            )
        if self.teacher is None:
            raise ValueError("DistillTrainer needs a teacher model or cached top-k rows")
        with torch.no_grad():
            teacher_logits = self.teacher(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
            ).logits[:, :-1]
        vocab = min(logits.shape[-1], teacher_logits.shape[-1])  # padded embedding sizes may differ
        return losses.dense_loss(
            self.kd.loss, logits[..., :vocab], teacher_logits[..., :vocab], **kw
        )

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


class ReportProgress(TrainerCallback):
    """Forward training progress (step / max_steps) to a ``Progress``."""

    def __init__(self, progress) -> None:
        self.progress = progress

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.report(
            state.global_step / max(state.max_steps, 1), f"training step {state.global_step}"
        )
        return control
