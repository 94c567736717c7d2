# GPU host image: CUDA 11.8 + cuDNN 8 runtime, paddlepaddle-gpu instead of the CPU wheel, the same
# pinned lock as the Makefile otherwise (tests/test_dockerfile.py keeps the two from drifting).
FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

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

COPY requirements.txt requirements-gpu.txt requirements-nodeps.txt ./
RUN pip install -r requirements-gpu.txt \
 && pip install --no-deps -r requirements-nodeps.txt

COPY settings.py config.toml pyproject.toml alembic.ini ./
COPY engine ./engine
COPY storage ./storage
COPY migrations ./migrations
COPY bot ./bot
COPY templates ./templates

RUN useradd --create-home --uid 10001 yahey \
 && mkdir -p /app/data /app/weights \
 && chown -R yahey:yahey /app/data /app/weights /app/templates
USER yahey

# Jobs and the database; the checkpoint (`python -m engine weights fetch`); templates (added from chat too).
VOLUME ["/app/data", "/app/weights", "/app/templates"]

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"

# BOT_TOKEN comes from the environment (docker run -e BOT_TOKEN=...).
CMD ["python", "-m", "bot", "--config", "/app/config.toml"]
