"""Prometheus metrics of the bot, in their own registry (served at GET /metrics by bot/http_server.py).

A dedicated CollectorRegistry (not prometheus_client's global one) so tests and in-process restarts
never collide on duplicate names. Use the objects directly where the event happens:

    from bot import metrics
    metrics.JOBS.labels(status="queued").inc()          # a job entered a status
    metrics.QUEUE_LENGTH.set(await jobs.queue_length())  # after each claim / enqueue / finish
    metrics.RENDER_SECONDS.observe(seconds)               # wall time of one render
    metrics.RENDER_FPS.observe(frames / seconds)
    metrics.DELIVERY_RETRIES.inc()                         # each retried sendVideo
    metrics.TELEGRAM_ERRORS.labels(kind=metrics.error_kind(exc)).inc()

No telegram import here: error_kind() classifies PTB exceptions by class name.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# The *_created timestamp series only add noise to a single-process bot's scrape.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
ERROR_KINDS = (
    "retry_after", "timed_out", "network", "forbidden", "bad_request", "chat_migrated", "conflict",
    "invalid_token", "other",
)

JOBS = Counter("yahey_jobs", "Jobs that entered each status.", ["status"], registry=REGISTRY)
QUEUE_LENGTH = Gauge("yahey_queue_length", "Jobs queued or rendering now.", registry=REGISTRY)
RENDER_SECONDS = Histogram(
    "yahey_render_seconds",
    "Wall time of one render, download to encoded video.",
    buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1200),
    registry=REGISTRY,
)
RENDER_FPS = Histogram(
    "yahey_render_fps",
    "Frames generated per second of render time.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 50, 100, 200),
    registry=REGISTRY,
)
DELIVERY_RETRIES = Counter("yahey_delivery_retries", "Result deliveries retried after a Telegram error.", registry=REGISTRY)
TELEGRAM_ERRORS = Counter("yahey_telegram_errors", "Telegram API errors by kind.", ["kind"], registry=REGISTRY)

# Every label value exists from the start, so dashboards see 0 rather than no series.
for _status in JOB_STATUSES:
    JOBS.labels(status=_status)
for _kind in ERROR_KINDS:
    TELEGRAM_ERRORS.labels(kind=_kind)

_KIND_BY_CLASS = {
    "RetryAfter": "retry_after",
    "TimedOut": "timed_out",
    "Forbidden": "forbidden",
    "BadRequest": "bad_request",
    "ChatMigrated": "chat_migrated",
    "Conflict": "conflict",
    "InvalidToken": "invalid_token",
    "NetworkError": "network",  # after its subclasses above: the MRO is walked from the class up
}


def error_kind(exc: BaseException) -> str:
    """The TELEGRAM_ERRORS label for a python-telegram-bot exception (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls.__name__ in _KIND_BY_CLASS:
            return _KIND_BY_CLASS[cls.__name__]
    return "other"
