"""Limits without holes: an album pays a flood token per photo, a grid's size is checked before any
download, a photo waits for a decode slot before it is downloaded (not only before it is decoded),
and a user has one conversion on its way at a time, with presses of those buttons rate-limited."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot_helpers import eventually, keyboard_for, reply_text, running_bot, services_of
from test_bot_formats import press, render_for

from tests.fake_telegram import FakeTelegram


def variants(photo: Path, n: int) -> list[bytes]:
    """n different files (different file_unique_ids) of the same face."""
    data = photo.read_bytes()
    return [data + bytes([i]) for i in range(n)]


async def test_an_album_spends_one_flood_token_per_photo(tg: FakeTelegram, make_settings, fake_engine,
                                                        face_photo: Path) -> None:
    # A burst of 3 and a token every two minutes: nothing refills while the test runs.
    settings = make_settings(limits={"photo_burst": 3, "photos_per_minute": 0.5, "template_min_seconds": 0.1})
    async with running_bot(settings, fake_engine):
        ann = tg.user(first_name="Ann", language_code="en")
        dm = tg.private_chat(ann)
        tg.send_album(ann, dm, variants(face_photo, 4))
        keyboard = await keyboard_for(tg, dm)
        assert keyboard.params["text"].startswith("4 photos, one grid video.")  # admitted, owing a token
        downloads = len(tg.downloads)
        mark = tg.mark()
        tg.send_photo(ann, dm, face_photo.read_bytes() + b"another")
        assert "a lot of photos at once" in await reply_text(tg, dm, mark)
        assert len(tg.downloads) == downloads  # refused before its download


async def test_an_album_larger_than_a_grid_is_refused_before_any_download(tg: FakeTelegram, bot_app,
                                                                         face_photo: Path) -> None:
    ann = tg.user(first_name="Ann", language_code="en")
    dm = tg.private_chat(ann)
    mark = tg.mark()
    tg.send_album(ann, dm, variants(face_photo, 10))  # Telegram's most for an album; a grid holds 9
    assert "At most 9 photos in one grid." in await reply_text(tg, dm, mark)
    assert tg.downloads == [] and tg.calls_to("getFile") == []


async def test_a_full_collection_downloads_no_more_photos(tg: FakeTelegram, make_settings, fake_engine,
                                                          face_photo: Path) -> None:
    async with running_bot(make_settings(limits={"max_tiles": 2, "template_min_seconds": 0.1}), fake_engine):
        grp = tg.group_chat()
        ann, bob, cy = (tg.user(first_name=name, language_code="en") for name in ("Ann", "Bob", "Cy"))
        mark = tg.mark()
        tg.send_text(ann, grp, "/grid")
        collecting = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == grp["id"])
        one, two, three = variants(face_photo, 3)
        tg.send_photo(ann, grp, one, reply_to=collecting.result)
        tg.send_photo(bob, grp, two, reply_to=collecting.result)
        await eventually(lambda: "2 so far: " in tg.message(grp["id"], collecting.result["message_id"])["text"],
                         timeout=60, what="two photos counted")
        downloads = len(tg.downloads)
        mark = tg.mark()
        tg.send_photo(cy, grp, three, reply_to=collecting.result)
        assert "This grid is full (2 photos)." in await reply_text(tg, grp, mark)
        assert len(tg.downloads) == downloads


class CountingSlots(asyncio.Semaphore):
    """The decode slots, counting who asked for one."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.asked = 0

    async def acquire(self) -> bool:
        self.asked += 1
        return await super().acquire()


async def test_a_photo_waits_for_a_decode_slot_before_it_is_downloaded(tg: FakeTelegram, bot_app,
                                                                      face_photo: Path) -> None:
    svc = services_of(bot_app)
    svc.decode_slots = slots = CountingSlots(1)
    hold = tg.hold_next("download", times=2)
    ann, bob = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Bob", language_code="en")
    dm_ann, dm_bob = tg.private_chat(ann), tg.private_chat(bob)
    one, two = variants(face_photo, 2)
    tg.send_photo(ann, dm_ann, one)
    await hold.reached()  # Ann's photo is being downloaded
    tg.send_photo(bob, dm_bob, two)
    # Bob's photo either waits for the slot Ann's holds or, without a slot, is downloaded beside it.
    await eventually(lambda: slots.asked >= 2 or hold.waiting >= 2, timeout=60, what="Bob's photo under way")
    assert hold.waiting == 1 and len(tg.calls_to("getFile")) == 1  # one photo in memory at a time
    hold.release()
    await keyboard_for(tg, dm_ann)
    await keyboard_for(tg, dm_bob)


async def test_one_conversion_at_a_time_per_user_and_a_press_limit(tg: FakeTelegram, make_settings, fake_engine,
                                                                    face_photo: Path) -> None:
    # Two presses, then one every two minutes: nothing refills while the test runs.
    settings = make_settings(limits={"conversion_press_burst": 2, "conversion_presses_per_minute": 0.5,
                                     "template_min_seconds": 0.1})
    async with running_bot(settings, fake_engine):
        ann = tg.user(first_name="Ann", language_code="en")
        dm = tg.private_chat(ann)
        video = await render_for(tg, ann, dm, face_photo.read_bytes())
        hold = tg.hold_next("sendSticker")  # the sticker stays on its way
        assert (await press(tg, ann, video, "Sticker")).params["text"] == "⏳ Making it…"
        other = await press(tg, ann, video, "GIF")
        assert other.params["show_alert"]
        assert other.params["text"] == "Your other conversion is still on its way: one at a time, please."
        third = await press(tg, ann, video, "Round")
        assert third.params["text"] == "That's a lot of presses; please wait a minute, then try again."
        hold.release()
        await tg.wait_for("sendSticker", 120, where=lambda c: c.ok)
        assert tg.calls_to("sendAnimation") == [] and tg.calls_to("sendVideoNote") == []
