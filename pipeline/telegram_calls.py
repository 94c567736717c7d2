"""Telegram calls with immediate retries, and what a failure means for the job.

- Forbidden (the user blocked the bot, the bot left the group) and BadRequest are final:
  TelegramRefused.
- ChatMigrated (a group became a supergroup) is followed: the caller's on_migrate moves the job.
- RetryAfter (flood control) is waited out when short; a longer one, and timeouts, network errors
  and 5xx answers that outlast the immediate retries, raise TelegramUnavailable: the caller parks
  the job (pipeline/retry_policy.py) instead of failing it.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.warnings import PTBDeprecationWarning

from ops import metrics
from pipeline.retry_policy import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")


class TelegramRefused(Exception):
    """Telegram will not take this (blocked by the user, chat gone, bad request): do not retry."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden  # nothing more can be sent to that chat


class TelegramUnavailable(Exception):
    """Telegram could not be reached or asked to wait long: try again later."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def retry_after_seconds(err: RetryAfter) -> float:
    """RetryAfter.retry_after is an int today and a timedelta with PTB_TIMEDELTA (and in PTB 23)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # the int form warns on access
        value: int | float | timedelta = err.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    what: str,
    on_migrate: Callable[[int], Awaitable[None]] | None = None,
) -> T:
    """Run `call` until it succeeds, retrying what is temporary up to the policy's immediate tries."""
    failures = 0
    migrations = 0
    while True:
        try:
            return await call()
        except Forbidden as err:
            metrics.TELEGRAM_ERRORS.labels("forbidden").inc()
            raise TelegramRefused(f"{what}: {err}", forbidden=True) from err
        except ChatMigrated as err:
            metrics.TELEGRAM_ERRORS.labels("chat_migrated").inc()
            migrations += 1
            if on_migrate is None or migrations > 3:
                raise TelegramRefused(f"{what}: {err}") from err
            await on_migrate(err.new_chat_id)
            continue
        except RetryAfter as err:
            metrics.TELEGRAM_ERRORS.labels("retry_after").inc()
            wait = retry_after_seconds(err)
            if wait > policy.retry_after_cap_s:
                raise TelegramUnavailable(f"{what}: flood wait of {wait:.0f}s", retry_after_s=wait) from err
            kind = "retry_after"
        except TimedOut:
            metrics.TELEGRAM_ERRORS.labels("timed_out").inc()
            kind, wait = "timed_out", None
        except BadRequest as err:  # a subclass of NetworkError in PTB, but final
            metrics.TELEGRAM_ERRORS.labels("bad_request").inc()
            raise TelegramRefused(f"{what}: {err}") from err
        except NetworkError:  # connection errors and 5xx answers
            metrics.TELEGRAM_ERRORS.labels("network").inc()
            kind, wait = "network", None
        failures += 1
        if failures >= policy.immediate_attempts:
            raise TelegramUnavailable(f"{what}: {kind} after {failures} tries")
        delay = wait if wait is not None else policy.immediate_delay(failures)
        log.info("%s: %s, retry %d in %.1fs", what, kind, failures, delay)
        await asyncio.sleep(delay)


DEFAULT_POLICY = RetryPolicy()  # frozen: one shared default is safe


async def send_text(bot: Bot, chat_id: int, text: str, reply_to: int | None = None,
                    policy: RetryPolicy = DEFAULT_POLICY) -> Message | None:
    """A short notice that must not raise: failures are logged, not parked."""
    params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    try:
        return await call_with_retries(lambda: bot.send_message(chat_id, text, reply_parameters=params),
                                       policy, "sendMessage")
    except (TelegramRefused, TelegramUnavailable) as err:
        log.info("message to chat %s not sent: %s", chat_id, err)
        return None


async def chat_action(bot: Bot, chat_id: int, action: str = ChatAction.UPLOAD_VIDEO) -> None:
    """'sending video…' in the chat header; purely cosmetic, so errors are ignored."""
    try:
        await bot.send_chat_action(chat_id, action)
    except TelegramError as err:
        log.debug("chat action in %s failed: %s", chat_id, err)
