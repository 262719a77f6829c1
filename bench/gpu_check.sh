#!/usr/bin/env bash
# GPU acceptance run: one command, no network (the default models are bundled).
#
#   bench/gpu_check.sh            # PYTHON=/path/to/python to pick the interpreter
#
# On a CUDA machine:
#   1. pytest -m gpu                      (vLLM lifecycle, memory split, real prompt_logprobs,
#                                          bf16 batching, chunked loss on CUDA)
#   2. the quick preset distilled on CUDA: teacher data and top-k cache from vLLM when installed,
#      chunked KD loss and gradient checkpointing, peak GPU memory per logged step; fails unless
#      the held-out KL drops
#   3. teacher and quick student served side by side through vLLM in one process, 32 concurrent
#      requests, against HF generate on the same GPU; without vllm, the transformers batching
#      backend in bf16 against HF generate
# The last line is `vllm/hf tokens/s: R.Rx` (or, without vllm, a "vllm not installed" line and
# then `transformers/hf tokens/s: R.Rx`). Without CUDA it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false

if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "gpu_check: $PY cannot import torch; point PYTHON at the project's environment" >&2
  exit 2
fi
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: no CUDA device on this machine; nothing to check (make test covers the CPU paths)"
  exit 0
fi
"$PY" -c 'import torch; p = torch.cuda.get_device_properties(0); print(f"gpu_check: {torch.cuda.device_count()} x {p.name}, {p.total_memory / 2**30:.0f} GiB")'
if "$PY" -c 'import vllm' 2>/dev/null; then
  "$PY" -c 'import vllm; print(f"gpu_check: vllm {vllm.__version__}")'
else
  echo "gpu_check: vllm not installed; the vLLM parts are skipped (pip install '.[gpu]')"
fi

echo "== 1/3 pytest -m gpu"
"$PY" -m pytest -m gpu -q -p no:cacheprovider tests/unit tests/integration

echo "== 2/3 quick distillation on CUDA"
HOME_DIR="$(mktemp -d)"
trap 'rm -rf "$HOME_DIR"' EXIT
mkdir -p "$HOME_DIR/models"
USER_HOME="${STILLHOUSE_HOME:-$HOME/.cache/stillhouse}"
if [ -d "$USER_HOME/models/smollm2-135m-instruct" ]; then
  ln -s "$USER_HOME/models/smollm2-135m-instruct" "$HOME_DIR/models/"
fi
export STILLHOUSE_HOME="$HOME_DIR"
"$PY" -m ui.cli distill --preset quick --quiet --db "$HOME_DIR/ledger.duckdb" \
  --set kd_chunk_tokens=256 --set gradient_checkpointing=true --set logging_steps=10
"$PY" - <<'PY'
import json, os, pathlib, sys
found = sorted(pathlib.Path(os.environ["STILLHOUSE_HOME"], "runs").glob("*/evaluation.json"))
ev = json.loads(found[-1].read_text())
drop = ev["kl_reduction"]
print(f"gpu_check: held-out KL drop {drop:.1%} (CPU reference in docs/distill.md: -58%)")
sys.exit(0 if drop > 0 else 1)
PY

echo "== 3/3 serving: teacher and student side by side"
"$PY" bench/gpu_check.py serve --student smollm2-distilled --requests 32 --tokens 64
