"""The one status message of a job, edited in place: queued → rendering NN% → sending → done
(or "waiting for Telegram" while a download or delivery is parked).

Edits are throttled (Telegram allows about one edit a second per chat and 20 messages a minute in
groups) and never stop a job: "message is not modified", a deleted message or a flood wait only
skip that edit.
"""

from __future__ import annotations

import logging
import time

from telegram import Bot
from telegram.error import BadRequest, RetryAfter, TelegramError

from pipeline.telegram_calls import send_text
from storage.jobs import JobRecord

log = logging.getLogger(__name__)


def status_interval(chat_id: int, base: float) -> float:
    """Groups (negative ids) get half the edit rate: their 20-a-minute budget is shared."""
    return base if chat_id > 0 else 2 * base


class StatusMessage:
    def __init__(self, bot: Bot, chat_id: int, message_id: int | None, min_interval: float = 3.0) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.message_id = message_id
        self.min_interval = min_interval
        self._last_text: str | None = None
        self._last_at = float("-inf")

    @classmethod
    def for_job(cls, bot: Bot, job: JobRecord, base_interval: float) -> StatusMessage:
        return cls(bot, job.chat_id, job.status_message_id, status_interval(job.chat_id, base_interval))

    async def final(self, text: str, reply_to: int | None = None) -> None:
        """The job's last word: an edit when there is a status message, else a new message."""
        if self.message_id is None:
            await send_text(self.bot, self.chat_id, text, reply_to)
        else:
            await self.show(text, force=True)

    async def show(self, text: str, *, force: bool = False) -> None:
        """Edit the message to `text`; unless `force`, at most once per `min_interval` seconds."""
        if self.message_id is None or text == self._last_text:
            return
        now = time.monotonic()
        if not force and now - self._last_at < self.min_interval:
            return
        self._last_at = now
        try:
            await self.bot.edit_message_text(text, chat_id=self.chat_id, message_id=self.message_id)
            self._last_text = text
        except BadRequest as err:
            if "not modified" in str(err).lower():
                self._last_text = text
            else:
                log.info("status edit in chat %s skipped: %s", self.chat_id, err)
        except RetryAfter:
            log.info("status edit in chat %s skipped: flood wait", self.chat_id)
        except TelegramError as err:
            log.info("status edit in chat %s skipped: %s", self.chat_id, err)
