"""The user's own video sticker pack: created by their first "add", added to after; its name
`yahey_u<user id>[_<n>]_by_<bot username>` (Telegram wants the `_by_<bot>` ending, 1-64 letters,
digits and underscores).

A pack the user deleted is made again under the next name; a full pack, and a user Telegram does
not know yet (they never opened a chat with the bot), get their own answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot, InputSticker
from telegram.constants import StickerFormat

from i18n.texts import t
from pipeline.retry_policy import RetryPolicy
from pipeline.telegram_calls import TelegramRefused, call_with_retries
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


def pack_name(user_id: int, bot_username: str, version: int = 1) -> str:
    middle = f"u{user_id}" if version == 1 else f"u{user_id}_{version}"
    return f"yahey_{middle}_by_{bot_username}"[:64]


def _version(name: str) -> int:
    middle = name.removeprefix("yahey_").split("_by_", 1)[0]
    return int(middle.split("_", 1)[1]) if "_" in middle else 1


def _says(err: TelegramRefused, *codes: str) -> bool:
    text = str(err).upper()
    return any(code in text for code in codes)


async def add_to_pack(bot: Bot, db: Database, user_id: int, sticker: Path, lang: str,
                      policy: RetryPolicy) -> Added:
    """Add the .webm to the user's pack (making it first if needed). Raises PackFull, UserUnknown,
    TelegramRefused (anything else final) or TelegramUnavailable (try later)."""
    username = bot.username
    current = await users.sticker_set(db, user_id)
    name = current or pack_name(user_id, username)

    def input_sticker() -> InputSticker:
        return InputSticker(sticker.read_bytes(), emoji_list=[EMOJI], format=StickerFormat.VIDEO)

    for _ in range(5):  # a few names, in case earlier ones were taken or deleted
        try:
            if current is not None:
                await call_with_retries(lambda: bot.add_sticker_to_set(user_id, name, input_sticker()), policy,
                                        f"addStickerToSet {name}")
            else:
                await call_with_retries(
                    lambda: bot.create_new_sticker_set(user_id, name, t(lang, "pack_title"), [input_sticker()]),
                    policy, f"createNewStickerSet {name}")
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
            current, name = None, pack_name(user_id, username, _version(name) + 1)
    else:
        raise TelegramRefused(f"no free sticker set name for user {user_id}")
    return Added(name, await _last_sticker(bot, name, policy))


async def _last_sticker(bot: Bot, name: str, policy: RetryPolicy) -> str | None:
    try:
        pack = await call_with_retries(lambda: bot.get_sticker_set(name), policy, f"getStickerSet {name}")
    except Exception as err:  # the sticker is in; only inline mode misses it
        log.info("sticker set %s not read back: %s", name, err)
        return None
    return pack.stickers[-1].file_id if pack.stickers else None
