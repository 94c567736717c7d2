"""The forget stage: a confirmed /forget deletes everything the bot holds of a user, one step at a
time, under a lease on the request's row (storage/forget.py), so a restart in the middle finishes
it. Each step is done once its end state holds and can run again with the same end state; the
steps done are recorded with the request, so a restart resumes at the step that was under way.

Steps, in order (files before the rows that name them; the user's row last but one, the
confirmation and the request's own row last):

1. stop_jobs: queued jobs cancelled, running ones flagged (their stage, on any host, stops at its
   next heartbeat); the request waits until none runs.
2. withdraw_photos: their photos out of albums and /grid collections others started (and of
   others' grid jobs); open collections say so; their own open collections are closed.
3. own_templates: their own templates and those templates' motion (a group's templates stay the
   group's, without the user's id).
4. sticker_pack: their pack deleted through the Bot API (deleteStickerSet).
5. files: downloads, renders, notes, stickers and GIFs of their jobs under the data folder.
6. rows: their jobs, offers and user row (inline mode lists jobs rows: nothing is left to list).
Then one line says what was deleted, and the request's row goes.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from telegram import Bot

from bot import grid_collection
from i18n.texts import lang_of, t
from pipeline import own_templates
from pipeline.housekeeping import remove_file
from pipeline.paths import conversions_dir, render_path, tmp_dir
from pipeline.stage_base import StageLoop
from pipeline.telegram_calls import TelegramRefused, TelegramUnavailable, call_with_retries
from pipeline.tuning import Tuning
from storage import OwnerKind, forget, owned_templates, users
from storage.models import ForgetRequest, utcnow
from storage.owned_templates import Owner

if TYPE_CHECKING:
    from bot.context import Services

log = logging.getLogger(__name__)


class Park(Exception):
    """The step cannot finish now; the request is taken up again at `until`."""

    def __init__(self, until: datetime, why: str) -> None:
        super().__init__(why)
        self.until = until


Step = Callable[["ForgetStage", ForgetRequest], Awaitable[dict[str, int]]]


async def _no_hold(step: str) -> None:
    return None


class ForgetStage(StageLoop[ForgetRequest]):
    name = "forget stage"
    # A test harness may hold a request before a step (tests/gated_bot.py) to stop the process there.
    before_step: Callable[[str], Awaitable[None]] = staticmethod(_no_hold)

    def __init__(self, bot: Bot, svc: Services, tuning: Tuning, owner: str,
                 cancel_here: Callable[[int], bool] = lambda job_id: False) -> None:
        super().__init__(db=svc.db, tuning=tuning, owner=owner, concurrency=1)
        self.bot = bot
        self.svc = svc
        self.cancel_here = cancel_here  # stops a job this process runs at once (else: its next heartbeat)

    async def claim(self, job_id: int | None = None) -> ForgetRequest | None:
        return await forget.claim(self.db, self.owner, self.tuning.forget_lease)

    async def seconds_until_due(self) -> float | None:
        due = await forget.next_due(self.db)
        return None if due is None else max(0.0, (due - utcnow()).total_seconds())

    async def work_on(self, row: ForgetRequest) -> None:
        log.info("forget request %s: user %s, attempt %d", row.id, row.user_id, row.attempts)
        for name, step in STEPS:
            if name in forget.done_steps(row):
                continue
            await type(self).before_step(name)
            try:
                counts = await step(self, row)
            except Park as park:
                if await forget.park(self.db, row.id, self.owner, park.until):
                    log.info("forget request %s parked at %s until %s: %s", row.id, name,
                             park.until.isoformat(timespec="seconds"), park)
                return
            if not await forget.step_done(self.db, row, self.owner, name, counts, self.tuning.forget_lease):
                log.warning("forget request %s: lease lost at %s; left to the stage that has it", row.id, name)
                return
        await type(self).before_step("confirm")
        if not await self._confirm(row):
            return
        await forget.finish(self.db, row.id)
        log.info("forget request %s: user %s forgotten (%s)", row.id, row.user_id, forget.counts_of(row))

    def _later(self) -> datetime:
        return utcnow() + timedelta(seconds=self.tuning.heartbeat)

    # --- the steps -----------------------------------------------------------------------------------
    async def _stop_jobs(self, row: ForgetRequest) -> dict[str, int]:
        stopping = await forget.stop_jobs(self.db, row.user_id)
        for job_id in stopping.running:
            self.cancel_here(job_id)
        if stopping.running:
            raise Park(self._later(), f"waiting for job(s) {stopping.running} to stop")
        return {}

    async def _withdraw_photos(self, row: ForgetRequest) -> dict[str, int]:
        withdrawn, touched = await forget.withdraw_photos(self.db, row.user_id)
        for offer in touched:
            if offer.owner_id == row.user_id:
                lang = lang_of(await users.language(self.db, offer.owner_id))
                await grid_collection.end(self.svc, self.bot, offer, t(lang, "grid_cancelled"))
            else:
                await grid_collection.show_latest(self.svc, self.bot, offer)
        return {"photos": withdrawn}

    async def _own_templates(self, row: ForgetRequest) -> dict[str, int]:
        # Their private templates go with their folders and motion; a group's templates belong to the
        # group, which keeps them without the user's id.
        removed = await own_templates.delete_owner_templates(self.db, self.svc.settings,
                                                             Owner(OwnerKind.USER, row.user_id), self.svc.engine)
        await owned_templates.forget_creator(self.db, row.user_id)
        return {"templates": removed}

    async def _sticker_pack(self, row: ForgetRequest) -> dict[str, int]:
        name = await users.sticker_set(self.db, row.user_id)
        if name is None:
            return {}
        try:
            await call_with_retries(lambda: self.bot.delete_sticker_set(name), self.tuning.retry,
                                    f"deleteStickerSet {name}")
        except TelegramRefused as err:  # already deleted (by its owner, or by this step before a crash)
            log.info("forget request %s: sticker set %s not deleted: %s", row.id, name, err)
        except TelegramUnavailable as err:
            raise Park(utcnow() + timedelta(seconds=err.retry_after_s or self.tuning.retry.park_delay(1)),
                       str(err)) from err
        return {"pack": 1}

    async def _files(self, row: ForgetRequest) -> dict[str, int]:
        owned = await forget.owned(self.db, row.user_id)
        return {"files": remove_job_files(self.svc.settings.storage.data_dir, owned.job_ids, owned.paths)}

    async def _rows(self, row: ForgetRequest) -> dict[str, int]:
        return await forget.delete_rows(self.db, row.user_id)

    async def _confirm(self, row: ForgetRequest) -> bool:
        """One line saying what was deleted; False when it waits for Telegram (parked)."""
        counts = forget.counts_of(row)
        lang = row.language
        text = t(lang, "forget_done", jobs=counts.get("jobs", 0), files=counts.get("files", 0),
                 photos=counts.get("photos", 0), pack=t(lang, "forget_pack_yes" if counts.get("pack") else "forget_pack_no"))
        try:
            await call_with_retries(lambda: self.bot.send_message(row.chat_id, text), self.tuning.retry,
                                    "sendMessage (forgotten)")
        except TelegramRefused as err:  # blocked the bot meanwhile: nothing to tell, nothing kept
            log.info("forget request %s: confirmation not sent: %s", row.id, err)
        except TelegramUnavailable as err:
            if await forget.park(self.db, row.id, self.owner, utcnow() + timedelta(
                    seconds=err.retry_after_s or self.tuning.retry.park_delay(1))):
                log.info("forget request %s: confirmation waits for Telegram: %s", row.id, err)
            return False
        return True


STEPS: tuple[tuple[str, Step], ...] = (
    ("stop_jobs", ForgetStage._stop_jobs),
    ("withdraw_photos", ForgetStage._withdraw_photos),
    ("own_templates", ForgetStage._own_templates),
    ("sticker_pack", ForgetStage._sticker_pack),
    ("files", ForgetStage._files),
    ("rows", ForgetStage._rows),
)


def remove_job_files(data_dir: Path, job_ids: list[int], paths: list[str]) -> int:
    """Every file named by these jobs under the data folder (temp folder, render, conversions) and
    the results they made; returns how many files there were."""
    removed = 0
    for path in paths:
        removed += remove_file(Path(path))
    conversions = conversions_dir(data_dir)
    for job_id in job_ids:
        removed += remove_file(render_path(data_dir, job_id))
        if conversions.is_dir():
            for made in conversions.glob(f"{job_id}.*"):
                removed += remove_file(made)
        work = tmp_dir(data_dir, job_id)
        if work.is_dir():
            removed += sum(1 for f in work.rglob("*") if f.is_file())
            shutil.rmtree(work, ignore_errors=True)
    return removed

