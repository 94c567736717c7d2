"""The user's own video sticker pack: created by their first "add", added to after; its name
`yahey_<random>[_<n>]_by_<bot username>` (Telegram wants the `_by_<bot>` ending, 1-64 letters,
digits and underscores, a letter first). The random part is kept with the user (storage/users.py):
anyone who can open `t.me/addstickers/<name>` sees the pack, so the name must not follow from the
user id (in a group every member's id is visible). Packs made before keep their old
`yahey_u<user id>_by_<bot>` names: they exist on Telegram.

A pack the user deleted is made again under the next name; a full pack, and a user Telegram does
not know yet (they never opened a chat with the bot), get their own answers.

An add is idempotent: the sticker is uploaded first (uploadStickerFile: its file_unique_id is the
sticker's in the set) and the pack read before the add; when an add or a create may have succeeded
unheard (a timeout, a dropped connection, a 5xx), the pack is read back (getStickerSet) before any
retry: one more copy of the sticker than before means it is in (counted, since the same video
added twice on purpose has the same file_unique_id). Added twice by a retry, a sticker would count
twice towards the 120 a pack holds. A job parked after an unheard add (Telegram gone for longer
than the immediate retries) takes a copy already in the pack as its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot, InputSticker, StickerSet
from telegram.constants import StickerFormat

from i18n.texts import t
from pipeline.retry_policy import RetryPolicy
from pipeline.telegram_calls import TelegramRefused, TelegramUnavailable, call_with_retries
from storage import Database, users

log = logging.getLogger(__name__)

EMOJI = "🐜"  # 蚂蚁: the ant
PACK_LIMIT = 120  # stickers in a video sticker set


class PackFull(Exception):
    pass


class UserUnknown(Exception):
    """Telegram does not let the bot make a pack for someone who never started a chat with it."""


@dataclass(frozen=True)
class Added:
    name: str
    file_id: str | None  # the sticker as it is in the set (for inline mode)

    @property
    def link(self) -> str:
        return f"https://t.me/addstickers/{self.name}"


def pack_name(suffix: str, bot_username: str, version: int = 1) -> str:
    """`suffix`: the user's random part (users.pack_suffix)."""
    middle = suffix if version == 1 else f"{suffix}_{version}"
    return f"yahey_{middle}_by_{bot_username}"[:64]


def _version(name: str) -> int:
    """The <n> of `yahey_<part>_<n>_by_<bot>` (1 when absent), for old and new names alike."""
    middle = name.removeprefix("yahey_").split("_by_", 1)[0]
    last = middle.rsplit("_", 1)[-1] if "_" in middle else ""
    return int(last) if last.isdigit() else 1


def _says(err: TelegramRefused, *codes: str) -> bool:
    text = str(err).upper()
    return any(code in text for code in codes)


async def add_to_pack(bot: Bot, db: Database, user_id: int, sticker: Path, lang: str,
                      policy: RetryPolicy, retrying: bool = False) -> Added:
    """Add the .webm to the user's pack (making it first if needed). `retrying`: an earlier attempt
    of the same job may have added it unheard (it was parked): a sticker already in the pack counts
    as added. Raises PackFull, UserUnknown, TelegramRefused (anything else final) or
    TelegramUnavailable (try later)."""
    username = bot.username
    current = await users.sticker_set(db, user_id)
    name = current or pack_name(await users.pack_suffix(db, user_id), username)
    try:
        uploaded = await call_with_retries(
            lambda: bot.upload_sticker_file(user_id, sticker.read_bytes(), StickerFormat.VIDEO), policy,
            "uploadStickerFile")
    except TelegramRefused as err:
        if _says(err, "PEER_ID_INVALID", "USER_ID_INVALID", "USER_NOT_FOUND"):
            raise UserUnknown(str(err)) from err
        raise
    unique = uploaded.file_unique_id

    def input_sticker() -> InputSticker:
        return InputSticker(uploaded.file_id, emoji_list=[EMOJI], format=StickerFormat.VIDEO)

    for _ in range(5):  # a few names, in case earlier ones were taken or deleted
        try:
            if current is not None:
                before = await _copies(bot, name, unique, policy)
                if not (retrying and before > 0):
                    await _once(functools.partial(bot.add_sticker_to_set, user_id, name, input_sticker()), bot,
                                name, unique, before, policy, f"addStickerToSet {name}")
            else:
                await _once(
                    functools.partial(bot.create_new_sticker_set, user_id, name, t(lang, "pack_title"),
                                      [input_sticker()]),
                    bot, name, unique, 0, policy, f"createNewStickerSet {name}")
                await users.set_sticker_set(db, user_id, name)
            break
        except TelegramRefused as err:
            if _says(err, "STICKERS_TOO_MUCH"):
                raise PackFull(name) from err
            if _says(err, "PEER_ID_INVALID", "USER_ID_INVALID", "USER_NOT_FOUND"):
                raise UserUnknown(str(err)) from err
            if current is not None and _says(err, "STICKERSET_INVALID"):  # deleted by its owner
                log.info("sticker set %s is gone; making a new one", name)
            elif current is None and _says(err, "OCCUPIED"):
                log.info("sticker set name %s is taken; trying the next", name)
            else:
                raise
            current, name = None, pack_name(await users.pack_suffix(db, user_id), username, _version(name) + 1)
    else:
        raise TelegramRefused(f"no free sticker set name for user {user_id}")
    return Added(name, await _file_id_in(bot, name, unique, policy))


async def _once(call: Callable[[], Awaitable[bool]], bot: Bot, name: str, unique: str, before: int,
                policy: RetryPolicy, what: str) -> None:
    """An add (or create) of the sticker `unique` to pack `name`, which holds `before` copies of it,
    that happens at most once: after a failure whose outcome is unknown, the pack is read back
    before trying again. Raises TelegramRefused, or TelegramUnavailable when Telegram stays away
    (the caller parks the job)."""
    one_try = dataclasses.replace(policy, immediate_attempts=1)
    for attempt in range(1, policy.immediate_attempts + 1):
        try:
            await call_with_retries(call, one_try, what)
            return
        except TelegramUnavailable as err:
            if err.retry_after_s is not None:  # a long flood wait: refused unprocessed
                raise
            last = err
        if await _copies(bot, name, unique, policy) > before:  # read back: it went through unheard
            log.info("%s: its answer was lost, but the sticker is in the pack", what)
            return
        if attempt < policy.immediate_attempts:
            await asyncio.sleep(policy.immediate_delay(attempt))
    raise last


async def _stickers(bot: Bot, name: str, policy: RetryPolicy) -> list[tuple[str, str]]:
    """(file_unique_id, file_id) of each sticker in pack `name`, oldest first; [] when there is no
    such pack. Raises TelegramUnavailable when it cannot be read."""
    try:
        pack: StickerSet = await call_with_retries(functools.partial(bot.get_sticker_set, name), policy,
                                                   f"getStickerSet {name}")
    except TelegramRefused:  # STICKERSET_INVALID: no such pack (yet)
        return []
    return [(s.file_unique_id, s.file_id) for s in pack.stickers]


async def _copies(bot: Bot, name: str, unique: str, policy: RetryPolicy) -> int:
    return sum(1 for u, _ in await _stickers(bot, name, policy) if u == unique)


async def _file_id_in(bot: Bot, name: str, unique: str, policy: RetryPolicy) -> str | None:
    """The sticker as it is in the set (its newest copy, for inline mode); None if it cannot be
    read back now."""
    try:
        found = [f for u, f in await _stickers(bot, name, policy) if u == unique]
    except Exception as err:  # the sticker is in; only inline mode misses it
        log.info("sticker set %s not read back: %s", name, err)
        return None
    return found[-1] if found else None
