# GPU host image: Paddle 3 for CUDA 12.6 from PaddlePaddle's own wheel index, the same Paddle version
# and otherwise the same pinned lock as the Makefile's CPU set-up (tests/test_dockerfile.py keeps them
# from drifting). PyPI's newest paddlepaddle-gpu is 2.6.2, which can neither write nor load the
# compiled model's Paddle 3 programs: the engine would fall back to the ~20x slower dynamic graph.
#
# The Paddle 3 GPU wheel brings the CUDA 12.6 runtime, cuDNN 9 and cuBLAS as pip packages it pins
# itself (nvidia-*-cu12), so the base image only has to pass the host's driver through: the "base"
# flavour of nvidia/cuda sets the NVIDIA_* variables the NVIDIA Container Toolkit reads. The host
# needs an NVIDIA driver for CUDA 12.6 (>= 560; >= 525 through CUDA's minor-version compatibility)
# and the NVIDIA Container Toolkit. `docker compose up -d` (compose.yaml) reserves one GPU.
FROM nvidia/cuda:12.6.3-base-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates libgomp1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
RUN python3.11 -m venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH

# The CUDA version is in the index's path (cu126); change it together with the FROM line above.
ARG PADDLE_INDEX=https://www.paddlepaddle.org.cn/packages/stable/cu126/
COPY requirements.txt requirements-gpu.txt requirements-nodeps.txt ./
# The shared lock from PyPI first; then Paddle alone from Paddle's index, where everything it needs
# but its CUDA libraries is already installed, so only paddlepaddle-gpu and nvidia-* come from there.
RUN pip install -r requirements.txt \
 && pip install --index-url "$PADDLE_INDEX" -r requirements-gpu.txt \
 && pip install --no-deps -r requirements-nodeps.txt

COPY settings.py config.toml config.scale.toml pyproject.toml alembic.ini ./
COPY engine ./engine
COPY storage ./storage
COPY migrations ./migrations
COPY bot ./bot
COPY pipeline ./pipeline
COPY ops ./ops
COPY i18n ./i18n
COPY worker ./worker
COPY templates ./templates
# a few KB: GPU figures come from the image itself (`python -m engine bench`, benchmarks/bench_start.py)
COPY benchmarks ./benchmarks

RUN useradd --create-home --uid 10001 yahey \
 && mkdir -p /app/data /app/weights \
 && chown -R yahey:yahey /app/data /app/weights /app/templates
USER yahey

# Jobs, the database and [engine].cache_dir (the compiled model, template motion: a restart with this
# volume is warm); the checkpoint (`python -m engine weights fetch`); templates (added from chat too).
VOLUME ["/app/data", "/app/weights", "/app/templates"]

EXPOSE 8080
# [http].port of config.toml; the check runs inside the container, where [http].host 127.0.0.1 is reachable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"

# BOT_TOKEN comes from the environment (compose.yaml, or docker run -e BOT_TOKEN=...).
CMD ["python", "-m", "bot", "--config", "/app/config.toml"]
