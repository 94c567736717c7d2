"""Prometheus metrics of the bot, in their own registry (served at GET /metrics by ops/http_server.py).

A dedicated CollectorRegistry (not prometheus_client's global one) so tests and in-process restarts
never collide on duplicate names. Tests read values with `REGISTRY.get_sample_value(name, labels)`.

`yahey_queue_length` is computed at each scrape: the /metrics handler (async, on the event loop that
owns the database) counts the queue before it renders this registry, which prometheus_client reads
synchronously (ops/http_server.py `on_scrape`). The gauge then holds the last count taken.
"""

from __future__ import annotations

import platform
import tomllib
from datetime import datetime
from importlib import metadata
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
)

from storage import Database, jobs
from storage.models import JobKind, utcnow

# The *_created timestamp series only add noise to a single-process bot's scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

REGISTRY = CollectorRegistry(auto_describe=True)

JOB_STATUSES = ("queued", "running", "delivering", "done", "failed", "cancelled")
ERROR_KINDS = ("retry_after", "timed_out", "network", "forbidden", "bad_request", "chat_migrated")

ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, process_cpu_seconds_total, ...

JOBS = Counter("yahey_jobs", "Jobs that entered each status, by kind (render, grid, convert, ...).",
               ["status", "kind"], registry=REGISTRY)
QUEUE_LENGTH = Gauge("yahey_queue_length", "Jobs waiting for or in the render stage (counted at scrape).",
                     registry=REGISTRY)
QUEUE_WAIT = Histogram(
    "yahey_queue_wait_seconds",
    "Time a render or grid waited in line: template pressed (queued) to its first render start.",
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
    registry=REGISTRY,
)
PHOTO_TO_VIDEO = Histogram(
    "yahey_photo_to_video_seconds",
    "What a user waits: template pressed to the video delivered (renders and grids, cached answers too).",
    buckets=(2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600, 7200, 14400),
    registry=REGISTRY,
)
BUILD_INFO = Info("yahey_build", "This build: the bot's version, paddle's and Python's.", registry=REGISTRY)
RENDER_SECONDS = Histogram(
    "yahey_render_seconds",
    "Wall time of one render, photo decoded to encoded video.",
    buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1200),
    registry=REGISTRY,
)
RENDER_FPS = Histogram(
    "yahey_render_fps",
    "Frames generated per second of render time.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 50, 100, 200),
    registry=REGISTRY,
)
RENDER_BUSY_SECONDS = Counter(
    "yahey_render_busy_seconds", "Time the one-render lock was held (render, import, delete).", registry=REGISTRY)
DELIVERY_RETRIES = Counter("yahey_delivery_retries", "Result deliveries retried after a Telegram error.",
                           registry=REGISTRY)
DELIVERIES_PARKED = Gauge("yahey_deliveries_waiting", "Rendered jobs waiting to retry their delivery.",
                          registry=REGISTRY)
TELEGRAM_ERRORS = Counter("yahey_telegram_errors", "Telegram API errors by kind.", ["kind"], registry=REGISTRY)
PHOTOS_THROTTLED = Counter("yahey_photos_throttled", "Photos dropped by the per-user flood control.", ["reason"],
                           registry=REGISTRY)
ENGINE_INFO = Gauge("yahey_engine_info", "1 for the engine's current state, runner, precision and device.",
                    ["state", "runner", "precision", "device"], registry=REGISTRY)

# Every label value exists from the start, so dashboards see 0 rather than no series.
for _status in JOB_STATUSES:
    for _job_kind in JobKind:
        JOBS.labels(status=_status, kind=_job_kind.value)
for _kind in ERROR_KINDS:
    TELEGRAM_ERRORS.labels(kind=_kind)
for _reason in ("duplicate", "flood"):
    PHOTOS_THROTTLED.labels(reason=_reason)


def set_engine_info(state: str, runner: str | None, precision: str | None, device: str | None) -> None:
    """One series at 1: the engine as it is now (the previous state's series is removed)."""
    ENGINE_INFO.clear()
    ENGINE_INFO.labels(state=state, runner=runner or "", precision=precision or "", device=device or "").set(1)


async def count_queue(db: Database) -> None:
    """At each scrape (ops/http_server.py on_scrape): the queue as the database has it now."""
    QUEUE_LENGTH.set(await jobs.queue_length(db))


def job_entered(status: str, kind: str) -> None:
    """Count a job entering `status` (JobStatus value) under its kind (JobKind value)."""
    JOBS.labels(status=status, kind=kind).inc()


USER_KINDS = (JobKind.RENDER, JobKind.GRID)  # what users wait for; imports and conversions are not timed


def render_started(kind: str, attempts: int, created_at: datetime, started_at: datetime | None) -> None:
    """A render-stage claim: the time in line, once per job (its first start; a retry is not a wait)."""
    if kind in USER_KINDS and attempts == 1:
        QUEUE_WAIT.observe(max(0.0, ((started_at or utcnow()) - created_at).total_seconds()))


def video_delivered(kind: str, output_kind: str, created_at: datetime) -> None:
    """A render's video reached the user: photo (template pressed) to video. The row's created_at is
    the bot's clock, utcnow() the delivering process's: hosts keep their clocks in sync (NTP)."""
    if kind in USER_KINDS and output_kind == "video":
        PHOTO_TO_VIDEO.observe(max(0.0, (utcnow() - created_at).total_seconds()))


def _versions() -> dict[str, str]:
    def installed(*names: str) -> str:
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return "none"

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:  # the project is run from its folder (and the image), not installed
        version = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        version = installed("yahey-bot")
    return {"version": version, "paddle_version": installed("paddlepaddle", "paddlepaddle-gpu"),
            "python_version": platform.python_version()}


BUILD_INFO.info(_versions())
