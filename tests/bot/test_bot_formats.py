"""Beyond the MP4: a round video note, a sticker, a GIF and the user's own pack from one render,
shared from any chat through inline mode. Every file the bot sends is checked against Telegram's
rules with the tests' ffprobe (PyAV)."""

from __future__ import annotations

from pathlib import Path

from bot_helpers import eventually, first_button, jobs_rows, keyboard_for, running_bot, settings_of

from tests.fake_telegram import FakeTelegram
from tests.media_probe import assert_cut_out, assert_gif, assert_sticker, assert_telegram_video, assert_video_note


async def render_for(tg: FakeTelegram, user: dict, chat: dict, image: bytes) -> dict:
    """Photo → template → the delivered video message (as the bot sent it)."""
    mark = tg.mark()
    tg.send_photo(user, chat, image, caption="/yahey" if chat["type"] != "private" else None)
    keyboard = await keyboard_for(tg, chat, mark)
    tg.press_button(user, chat, keyboard.result, first_button(tg, chat, keyboard))
    sent = await tg.wait_for("sendVideo", 180, since=mark, where=lambda c: c.ok and c.params["chat_id"] == chat["id"])
    return sent.result


def buttons(tg: FakeTelegram, message: dict) -> dict[str, str]:
    markup = tg.message(message["chat"]["id"], message["message_id"])["reply_markup"]
    return {b["text"]: b.get("callback_data") or b.get("switch_inline_query") for row in markup["inline_keyboard"]
            for b in row}


async def press(tg: FakeTelegram, user: dict, message: dict, label: str) -> dict:
    data = next(v for k, v in buttons(tg, message).items() if label in k)
    query = tg.press_button(user, message["chat"], message, data)
    return await tg.wait_for("answerCallbackQuery", 30, where=lambda c: c.params["callback_query_id"] == query["id"])


async def finished(bot_app, kind: str) -> None:
    """Every `kind` conversion recorded as finished: the record follows the last message, and a press
    meanwhile is (rightly) answered "already on its way"."""
    settings = settings_of(bot_app)
    await eventually(lambda: all(r["status"] in ("done", "failed", "cancelled") for r in jobs_rows(settings)
                                 if r["output_kind"] == kind), timeout=30, what=f"{kind} conversions finished")


def assert_opaque_middle(alpha) -> None:
    """One face: the sticker is its rectangle (room either side, more above than below), so the
    middle of its width, from 40% to 70% of its height, is the face."""
    n, h, w = alpha.shape
    assert alpha[:, int(0.4 * h):int(0.7 * h), int(0.4 * w):int(0.6 * w)].min() >= 240


async def test_one_render_becomes_a_note_a_sticker_a_gif_and_a_pack(tg: FakeTelegram, bot_app,
                                                                    face_photo: Path) -> None:
    ann = tg.user(first_name="Ann", language_code="en")
    dm = tg.private_chat(ann)
    video = await render_for(tg, ann, dm, face_photo.read_bytes())
    labels = buttons(tg, video)
    assert set(labels) == {"⭕ Round video", "🐜 Sticker", "🎞 GIF", "➕ Add to my pack", "📤 Share"}
    assert labels["📤 Share"] == ""  # switch_inline_query: pick a chat, then inline mode

    await press(tg, ann, video, "Round")
    note = await tg.wait_for("sendVideoNote", 120, where=lambda c: c.ok)
    assert "video_note" in note.result and note.params["length"] == note.result["video_note"]["length"]
    probe = assert_video_note(note.files["video_note"])
    assert probe.width == note.params["length"]
    assert note.params["reply_parameters"]["message_id"] == video["reply_to_message"]["message_id"]
    await finished(bot_app, "note")  # one conversion at a time per user

    await press(tg, ann, video, "Sticker")
    sticker = await tg.wait_for("sendSticker", 120, where=lambda c: c.ok)
    assert_sticker(sticker.files["sticker"])
    assert_opaque_middle(assert_cut_out(sticker.files["sticker"]))  # the face on transparency
    assert sticker.params["emoji"] == "🐜"
    await finished(bot_app, "sticker")

    await press(tg, ann, video, "GIF")
    gif = await tg.wait_for("sendAnimation", 120, where=lambda c: c.ok)
    assert_gif(gif.files["animation"])
    await finished(bot_app, "gif")

    await press(tg, ann, video, "Add to my pack")
    added = await tg.wait_for("sendMessage", 120, where=lambda c: "addstickers" in c.params.get("text", ""))
    name = added.params["text"].split("https://t.me/addstickers/", 1)[1].split()[0]
    assert name.endswith("_by_yahey_test_bot") and str(ann["id"]) not in name  # not guessable from her id
    pack = tg.sticker_set(name)
    assert pack is not None and len(pack["stickers"]) == 1 and pack["stickers"][0]["emoji"] == "🐜"
    in_pack = tg.file_bytes(pack["stickers"][0]["file_id"])  # the same cut-out sticker
    assert_sticker(in_pack)
    assert_opaque_middle(assert_cut_out(in_pack))
    await finished(bot_app, "pack")
    await press(tg, ann, video, "Add to my pack")
    await eventually(lambda: len(tg.sticker_set(name)["stickers"]) == 2, timeout=120, what="added again")
    assert len(tg.calls_to("createNewStickerSet")) == 1  # made once, added to after

    # The same sticker again: from the cache, no upload, no ffmpeg.
    await finished(bot_app, "pack")
    mark = tg.mark()
    await press(tg, ann, video, "Sticker")
    again = await tg.wait_for("sendSticker", 60, since=mark, where=lambda c: c.ok)
    assert again.files == {} and again.params["sticker"] == sticker.result["sticker"]["file_id"]
    settings = settings_of(bot_app)
    await eventually(lambda: all(r["status"] == "done" for r in jobs_rows(settings)), what="all done")
    kinds = [(r["output_kind"], bool(r["from_cache"])) for r in jobs_rows(settings)]
    assert kinds == [("video", False), ("note", False), ("sticker", False), ("gif", False), ("pack", False),
                     ("pack", False), ("sticker", True)]

    # Inline mode lists Ann's results (not the note: notes cannot be sent inline), newest first.
    inline = tg.inline_query(ann, "")
    await eventually(lambda: tg.inline_answer(inline) is not None, what="inline answered")
    answer = tg.inline_answer(inline)
    assert answer["is_personal"] is True
    types = [r["type"] for r in answer["results"]]
    assert types[0] == "sticker" and "video" in types and "mpeg4_gif" in types and "video_note" not in types
    ids = {r.get("video_file_id") or r.get("sticker_file_id") or r.get("mpeg4_file_id") for r in answer["results"]}
    assert video["video"]["file_id"] in ids and gif.result["animation"]["file_id"] in ids
    # ... and nothing of Ann's for Ben, who gets a button to make his own.
    ben = tg.user(first_name="Ben", language_code="en")
    empty = tg.inline_query(ben, "")
    await eventually(lambda: tg.inline_answer(empty) is not None, what="inline answered")
    assert tg.inline_answer(empty)["results"] == []
    assert tg.inline_answer(empty)["button"]["start_parameter"] == "make"


async def test_in_a_group_only_the_requester_converts_and_the_pack_needs_a_private_chat(
        tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    ann, bob = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Bob", language_code="en")
    grp = tg.group_chat()
    video = await render_for(tg, ann, grp, face_photo.read_bytes())
    refused = await press(tg, bob, video, "Sticker")
    assert refused.params["show_alert"] and "Only the person who asked" in refused.params["text"]
    # Ann never opened a private chat with the bot: Telegram cannot make her a pack yet.
    await press(tg, ann, video, "Add to my pack")
    told = await tg.wait_for("sendMessage", 120, where=lambda c: "private chat" in c.params.get("text", ""))
    assert told.params["chat_id"] == grp["id"]
    assert not tg.state.sticker_sets


async def test_a_full_pack_a_deleted_pack_and_an_expired_render(tg: FakeTelegram, bot_app,
                                                                face_photo: Path) -> None:
    tg.sticker_set_limit = 1
    ann = tg.user(first_name="Ann", language_code="zh-hans")
    dm = tg.private_chat(ann)
    video = await render_for(tg, ann, dm, face_photo.read_bytes())
    await press(tg, ann, video, "加入")
    await eventually(lambda: len(tg.state.sticker_sets) == 1, timeout=120, what="pack made")
    (first,) = tg.state.sticker_sets
    await finished(bot_app, "pack")
    await press(tg, ann, video, "加入")
    full = await tg.wait_for("sendMessage", 120, where=lambda c: "满了" in c.params.get("text", ""))
    assert full.params["chat_id"] == dm["id"]
    await finished(bot_app, "pack")
    tg.delete_sticker_set(first)  # Ann deletes it with @Stickers: the next add makes a new one
    await press(tg, ann, video, "加入")
    second = first.replace("_by_", "_2_by_")
    await eventually(lambda: tg.sticker_set(second) is not None, timeout=120, what="a new pack")
    await finished(bot_app, "pack")

    settings = settings_of(bot_app)
    (row,) = [r for r in jobs_rows(settings) if r["output_kind"] == "video"]
    Path(row["result_path"]).unlink()  # past retention
    expired = await press(tg, ann, video, "动图")
    assert "过期" in expired.params["text"]


async def test_a_cached_video_converts_too(tg: FakeTelegram, make_settings, fake_engine,
                                           face_photo: Path) -> None:
    async with running_bot(make_settings(), fake_engine):
        ann = tg.user(first_name="Ann", language_code="en")
        image = face_photo.read_bytes()
        await render_for(tg, ann, tg.private_chat(ann), image)
        grp = tg.group_chat()
        cached = await render_for(tg, ann, grp, image)  # the same photo elsewhere: from the cache
        assert "video" in cached and cached["video"]["file_id"]
        await press(tg, ann, cached, "GIF")
        gif = await tg.wait_for("sendAnimation", 120, where=lambda c: c.ok)
        assert gif.params["chat_id"] == grp["id"]
        assert_gif(gif.files["animation"])
        assert_telegram_video(gif.files["animation"], with_audio=False)
