"""Sending results to Telegram with retries.

RetryAfter waits what Telegram asks (an int or, with PTB_TIMEDELTA, a timedelta); TimedOut and
NetworkError back off exponentially; Forbidden (the user blocked the bot) and BadRequest are final
and raise DeliveryRefused. ChatMigrated (a group became a supergroup) is followed once per hop.

Exactly-once: the worker records "done" with the video's file_id in one commit right after
sendVideo returns. The only duplicate left possible is a process killed between Telegram accepting
the upload and that commit (one local SQLite commit, milliseconds), or a TimedOut on an upload that
Telegram did in fact receive; both are retried rather than dropped, so a video is never lost.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from telegram import Bot, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.warnings import PTBDeprecationWarning

from bot import metrics
from storage import Database, jobs

log = logging.getLogger(__name__)
T = TypeVar("T")


class DeliveryRefused(Exception):
    """Telegram will not take this message (blocked by the user, chat gone, bad request)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0


def retry_after_seconds(err: RetryAfter) -> float:
    """RetryAfter.retry_after is an int today and a timedelta with PTB_TIMEDELTA (and in PTB 23)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # the int form warns on access
        value: int | float | timedelta = err.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy = RetryPolicy(),
    what: str = "request",
    on_migrate: Callable[[int], Awaitable[None]] | None = None,
) -> T:
    """Run `call` until it succeeds, retrying what Telegram says is temporary."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Forbidden as err:
            metrics.TELEGRAM_ERRORS.labels("forbidden").inc()
            raise DeliveryRefused(str(err)) from err
        except ChatMigrated as err:
            metrics.TELEGRAM_ERRORS.labels("chat_migrated").inc()
            if on_migrate is None or attempt >= policy.attempts:
                raise DeliveryRefused(str(err)) from err
            await on_migrate(err.new_chat_id)
            continue
        except RetryAfter as err:
            kind, delay = "retry_after", retry_after_seconds(err)
        except TimedOut:
            kind, delay = "timed_out", min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
        except BadRequest as err:  # a subclass of NetworkError in PTB, but final
            metrics.TELEGRAM_ERRORS.labels("bad_request").inc()
            raise DeliveryRefused(str(err)) from err
        except NetworkError:
            kind, delay = "network", min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
        metrics.TELEGRAM_ERRORS.labels(kind).inc()
        if attempt >= policy.attempts:
            raise DeliveryRefused(f"{what}: gave up after {attempt} attempts ({kind})")
        metrics.DELIVERY_RETRIES.inc()
        log.info("%s: %s, retry %d in %.1fs", what, kind, attempt, delay)
        await asyncio.sleep(delay)


@dataclass
class VideoReply:
    chat_id: int
    reply_to: int
    caption: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


async def send_video(
    bot: Bot,
    reply: VideoReply,
    video: Path | str,
    policy: RetryPolicy = RetryPolicy(),
    what: str = "sendVideo",
    on_migrate: Callable[[int], Awaitable[None]] | None = None,
) -> Message:
    """sendVideo as a reply to the photo (or on its own if that message is gone). `video` is the
    rendered file or a cached Telegram file_id."""

    async def migrate(new_chat_id: int) -> None:
        reply.chat_id = new_chat_id
        if on_migrate is not None:
            await on_migrate(new_chat_id)

    async def call() -> Message:
        return await bot.send_video(
            chat_id=reply.chat_id,
            video=video,
            caption=reply.caption,
            width=reply.width,
            height=reply.height,
            duration=max(1, round(reply.duration)) if reply.duration else None,  # whole seconds
            supports_streaming=True,
            reply_parameters=ReplyParameters(reply.reply_to, allow_sending_without_reply=True),
        )

    return await with_retries(call, policy, what, migrate)


async def deliver_job(
    bot: Bot,
    db: Database,
    job_id: int,
    reply: VideoReply,
    video: Path | str,
    policy: RetryPolicy = RetryPolicy(),
    on_migrate: Callable[[int], Awaitable[None]] | None = None,
) -> Message | None:
    """Send a job's video and record the outcome: 'done' with the file_id in one commit right after
    Telegram accepts it, or 'failed' when Telegram refuses it (None is returned then)."""
    try:
        message = await send_video(bot, reply, video, policy, f"job {job_id} sendVideo", on_migrate)
    except DeliveryRefused as err:
        log.warning("job %s not delivered: %s", job_id, err)
        await jobs.mark_failed(db, job_id, f"delivery: {err}")
        metrics.JOBS.labels("failed").inc()
        return None
    await jobs.mark_done(db, job_id, message.video.file_id if message.video else None)
    metrics.JOBS.labels("done").inc()
    log.info("job %s delivered%s", job_id, " from the file_id cache" if isinstance(video, str) else "")
    return message


async def send_text(bot: Bot, chat_id: int, text: str, reply_to: int | None = None) -> Message | None:
    """A short notice that must not raise: failures are logged, not retried forever."""
    params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    try:
        return await with_retries(
            lambda: bot.send_message(chat_id, text, reply_parameters=params),
            RetryPolicy(attempts=3),
            "sendMessage",
        )
    except DeliveryRefused as err:
        log.info("message to chat %s not sent: %s", chat_id, err)
        return None


async def upload_action(bot: Bot, chat_id: int) -> None:
    """'sending video…' in the chat header; purely cosmetic, so errors are ignored."""
    try:
        await bot.send_chat_action(chat_id, ChatAction.UPLOAD_VIDEO)
    except Exception as err:  # noqa: BLE001 - a chat action is never worth failing a job
        log.debug("chat action in %s failed: %s", chat_id, err)
