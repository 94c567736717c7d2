"""The user's sticker pack through the real Bot API client against the fake server: names that do
not follow from the user id, old names kept, and adds that happen once even when Telegram's answer
is lost after the sticker went in."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import imageio_ffmpeg
import pytest
import telegram

from pipeline.retry_policy import RetryPolicy
from pipeline.sticker_pack import add_to_pack
from storage import Database, upgrade_to_head, users
from tests.fake_telegram import FakeTelegram

TOKEN = "123456:TEST-token"
QUICK = RetryPolicy(immediate_attempts=3, immediate_base_s=0.01)


@pytest.fixture(scope="module")
def webm(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """A video sticker as Telegram wants it: VP9 WebM, 512 px, under 3 s, no sound."""
    path = tmp_path_factory.mktemp("sticker") / "sticker.webm"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi",
                    "-i", "testsrc=size=512x512:rate=25:duration=1", "-c:v", "libvpx-vp9", "-b:v", "200k", "-an",
                    "-y", str(path)], check=True)
    return path


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN, bot_username="yahey_test_bot") as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as client:
        yield client


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await upgrade_to_head(database)
    yield database
    await database.close()


async def a_user(tg: FakeTelegram, db: Database, user_id: int) -> int:
    user = tg.user(id=user_id)
    tg.private_chat(user)  # Telegram makes packs only for users who talked to the bot
    await users.touch(db, user_id, "en")
    return user_id


async def test_a_new_pack_name_does_not_follow_from_the_user_id(tg, bot, db, webm) -> None:
    ann, bob = await a_user(tg, db, 1001), await a_user(tg, db, 1002)
    first = await add_to_pack(bot, db, ann, webm, "en", QUICK)
    assert re.fullmatch(r"yahey_[a-z0-9]{10}_by_yahey_test_bot", first.name), first.name
    assert "1001" not in first.name and len(first.name) <= 64
    again = await add_to_pack(bot, db, ann, webm, "en", QUICK)
    assert again.name == first.name and len(tg.sticker_set(first.name)["stickers"]) == 2
    other = await add_to_pack(bot, db, bob, webm, "en", QUICK)
    assert other.name != first.name  # each user their own random part
    assert await users.pack_suffix(db, ann) == first.name.removeprefix("yahey_").split("_by_")[0]


async def test_an_existing_pack_keeps_its_old_name_and_a_deleted_one_gets_the_next(tg, bot, db, webm) -> None:
    ann = await a_user(tg, db, 1001)
    old = f"yahey_u{ann}_by_yahey_test_bot"  # made before the names became random: it exists
    await bot.create_new_sticker_set(ann, old, "My Ant Yahey", [
        telegram.InputSticker(webm.read_bytes(), ["🐜"], "video")])
    await users.set_sticker_set(db, ann, old)
    added = await add_to_pack(bot, db, ann, webm, "en", QUICK)
    assert added.name == old and len(tg.sticker_set(old)["stickers"]) == 2
    tg.delete_sticker_set(old)  # the owner deletes it with @Stickers
    remade = await add_to_pack(bot, db, ann, webm, "en", QUICK)
    suffix = await users.pack_suffix(db, ann)
    assert remade.name == f"yahey_{suffix}_2_by_yahey_test_bot"
    assert await users.sticker_set(db, ann) == remade.name


async def test_a_create_whose_answer_is_lost_makes_one_pack(tg, bot, db, webm) -> None:
    ann = await a_user(tg, db, 1001)
    tg.lose_answer_next("createNewStickerSet")  # made, but the bot never hears so
    made = await add_to_pack(bot, db, ann, webm, "en", QUICK)
    assert tg.lost_answers == ["createNewStickerSet"]
    assert list(tg.state.sticker_sets) == [made.name]  # not a second one under the next name
    assert len(tg.sticker_set(made.name)["stickers"]) == 1
    assert await users.sticker_set(db, ann) == made.name


async def test_an_add_whose_answer_is_lost_is_not_repeated(tg, bot, db, webm) -> None:
    ann = await a_user(tg, db, 1001)
    made = await add_to_pack(bot, db, ann, webm, "en", QUICK)
    tg.lose_answer_next("addStickerToSet")  # the same video again, on purpose: a second copy
    added = await add_to_pack(bot, db, ann, webm, "en", QUICK)
    assert tg.lost_answers == ["addStickerToSet"]
    stickers = tg.sticker_set(made.name)["stickers"]
    assert len(stickers) == 2  # once, although its answer was lost
    assert added.file_id == stickers[-1]["file_id"]
    tg.fail_next("addStickerToSet", 502, "Bad Gateway")  # refused unprocessed: tried again
    await add_to_pack(bot, db, ann, webm, "en", QUICK)
    assert len(tg.sticker_set(made.name)["stickers"]) == 3
