"""Prometheus metrics of the bot, in their own registry (served at GET /metrics by bot/http_server.py).

A dedicated CollectorRegistry (not prometheus_client's global one) so tests and in-process restarts
never collide on duplicate names. Tests read values with `REGISTRY.get_sample_value(name, labels)`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# The *_created timestamp series only add noise to a single-process bot's scrape.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

JOB_STATUSES = ("queued", "running", "delivering", "done", "failed", "cancelled")
ERROR_KINDS = ("retry_after", "timed_out", "network", "forbidden", "bad_request", "chat_migrated")

JOBS = Counter("yahey_jobs", "Jobs that entered each status.", ["status"], registry=REGISTRY)
QUEUE_LENGTH = Gauge("yahey_queue_length", "Jobs waiting for or in the render stage.", registry=REGISTRY)
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
    JOBS.labels(status=_status)
for _kind in ERROR_KINDS:
    TELEGRAM_ERRORS.labels(kind=_kind)
for _reason in ("duplicate", "flood"):
    PHOTOS_THROTTLED.labels(reason=_reason)


def set_engine_info(state: str, runner: str | None, precision: str | None, device: str | None) -> None:
    """One series at 1: the engine as it is now (the previous state's series is removed)."""
    ENGINE_INFO.clear()
    ENGINE_INFO.labels(state=state, runner=runner or "", precision=precision or "", device=device or "").set(1)
