"""Distillation engine: teacher data, top-k logit cache, KD losses, pruned students, training,
evaluation.

Entry point: ``core.distill.run.distill(config, recorder=..., progress=..., resume=...)``;
configuration: ``core.distill.config.load_preset``. Submodules import torch and transformers
lazily so that importing ``core.distill`` stays cheap.
"""
