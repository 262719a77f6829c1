"""stillhouse engine: model specs and loading, generation backends, distillation, arena maths.

``import core`` stays light: torch, transformers and vLLM are imported inside the
functions that need them, so the CLI answers ``--help`` at once.
"""

__version__ = "0.1.0"
