"""Grids, the meme's classic form: a private album of photos, or a group's /grid that people reply
to, becomes one video with every face singing in its own tile. The group's grid renders with the
real engine; the others with the fake one."""

from __future__ import annotations

from pathlib import Path

from bot_helpers import (
    eventually,
    first_button,
    jobs_rows,
    keyboard_for,
    reply_text,
    running_bot,
    services_of,
    settings_of,
)

from tests.fake_telegram import FakeTelegram
from tests.media_probe import assert_telegram_video


def variants(photo: Path, n: int) -> list[bytes]:
    """n different files (different file_unique_ids) of the same face."""
    data = photo.read_bytes()
    return [data + bytes([i]) for i in range(n)]


async def test_a_private_album_of_nine_photos_is_one_3x3_grid(tg: FakeTelegram, bot_app, face_photo: Path,
                                                               noface_photo: Path) -> None:
    ann = tg.user(first_name="Ann", language_code="en")
    dm = tg.private_chat(ann)
    # Nine photos (a grid's most), the fifth without a face.
    images = variants(face_photo, 8)
    sent = tg.send_album(ann, dm, [*images[:4], noface_photo.read_bytes(), *images[4:]])
    keyboard = await keyboard_for(tg, dm)
    assert keyboard.params["text"].startswith("8 photos, one grid video.")
    assert "No face in photo 5: left out." in keyboard.params["text"]
    assert keyboard.params["reply_parameters"]["message_id"] == sent[0]["message_id"]
    assert len([c for c in tg.calls_to("sendMessage") if c.params.get("reply_markup")]) == 1  # one keyboard
    tg.press_button(ann, dm, keyboard.result, first_button(tg, dm, keyboard))
    delivered = await tg.wait_for("sendVideo", 300, where=lambda c: c.ok)
    video = assert_telegram_video(delivered.files["video"])
    assert video.width == video.height and video.width >= 3 * 128  # 3x3 square tiles
    settings = settings_of(bot_app)
    await eventually(lambda: [(r["kind"], r["status"], r["cost"]) for r in jobs_rows(settings)]
                     == [("grid", "done", 8)], what="one grid job, done, costing eight")


async def test_a_group_grid_collected_from_replies(tg: FakeTelegram, real_bot_app, face_photo: Path) -> None:
    """On the real engine: four faces animated in one grid."""
    bot_app = real_bot_app
    grp = tg.group_chat()
    people = [tg.user(first_name=name, language_code="en") for name in ("Ann", "Bob", "Cy", "Di")]
    stranger = tg.user(first_name="Eve", language_code="en")
    starter = people[0]
    mark = tg.mark()
    tg.send_text(starter, grp, "/grid")
    collecting = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == grp["id"])
    assert "reply to this message with your photos (2–9)" in collecting.params["text"]
    assert [b[0] for b in tg.buttons(grp["id"], collecting.result["message_id"])] == ["Cancel"]  # no template yet
    for person, image in zip(people, variants(face_photo, 4), strict=True):
        tg.send_photo(person, grp, image, reply_to=collecting.result)
    await eventually(lambda: "4 so far: " in tg.message(grp["id"], collecting.result["message_id"])["text"],
                     timeout=60, what="four photos counted")
    message = tg.message(grp["id"], collecting.result["message_id"])
    assert all(p["first_name"] in message["text"] for p in people)
    assert "@" not in message["text"] and not message.get("entities")  # names, never mentions
    template = first_button(tg, grp, collecting)
    refused = tg.press_button(stranger, grp, collecting.result, template)
    answer = await tg.wait_for("answerCallbackQuery", 10,
                               where=lambda c: c.params["callback_query_id"] == refused["id"])
    assert "Only people who added a photo" in answer.params["text"]
    tg.press_button(people[2], grp, collecting.result, template)  # any contributor may press
    delivered = await tg.wait_for("sendVideo", 240, where=lambda c: c.ok)
    assert delivered.params["reply_parameters"]["message_id"] == collecting.result["message_id"]
    assert "@" not in delivered.params["caption"]
    video = assert_telegram_video(delivered.files["video"])
    assert video.width == video.height  # four tiles: 2x2
    settings = settings_of(bot_app)
    await eventually(lambda: [(r["kind"], r["status"], r["user_id"]) for r in jobs_rows(settings)]
                     == [("grid", "done", people[2]["id"])], what="one grid, Cy's")
    # The collection is closed: nobody can start a second grid from it.
    from storage import offers

    svc = services_of(bot_app)
    assert await offers.open_collection(svc.db, grp["id"], collecting.result["message_id"]) is None


async def test_a_collection_expires_and_only_its_starter_cancels(tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    grp = tg.group_chat()
    ann, bob = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Bob", language_code="zh")
    svc = services_of(bot_app)
    mark = tg.mark()
    tg.send_text(ann, grp, "/grid")
    first = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == grp["id"])
    cancel = tg.buttons(grp["id"], first.result["message_id"])[-1][1]
    refused = tg.press_button(bob, grp, first.result, cancel)
    answer = await tg.wait_for("answerCallbackQuery", 10,
                               where=lambda c: c.params["callback_query_id"] == refused["id"])
    assert "发起的人" in answer.params["text"]
    tg.press_button(ann, grp, first.result, cancel)
    await eventually(lambda: "cancelled" in tg.message(grp["id"], first.result["message_id"])["text"], what="cancelled")

    mark = tg.mark()
    tg.send_text(ann, grp, "/grid")
    second = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == grp["id"])
    tg.send_photo(ann, grp, face_photo.read_bytes(), reply_to=second.result)
    await eventually(lambda: "1 so far: Ann" in tg.message(grp["id"], second.result["message_id"])["text"],
                     timeout=60, what="one photo in")
    from sqlalchemy import update

    from storage.models import Offer, utcnow

    async with svc.db.write() as session:  # fifteen minutes later
        await session.execute(update(Offer).where(Offer.message_id == second.result["message_id"])
                              .values(expires_at=utcnow()))
    await eventually(lambda: "expired" in tg.message(grp["id"], second.result["message_id"])["text"], timeout=30,
                     what="expired")
    assert not tg.buttons(grp["id"], second.result["message_id"])
    assert jobs_rows(settings_of(bot_app)) == []


async def test_a_grid_costs_its_faces_against_the_quota(tg: FakeTelegram, make_settings, fake_engine,
                                                        face_photo: Path) -> None:
    async with running_bot(make_settings(limits={"daily_quota": 3, "template_min_seconds": 0.1}), fake_engine):
        ann = tg.user(first_name="Ann", language_code="en")
        dm = tg.private_chat(ann)
        tg.send_album(ann, dm, variants(face_photo, 4))
        keyboard = await keyboard_for(tg, dm)
        mark = tg.mark()
        tg.press_button(ann, dm, keyboard.result, first_button(tg, dm, keyboard))
        assert "today's 3 videos" in await reply_text(tg, dm, mark)

    async with running_bot(make_settings(), fake_engine):
        mark = tg.mark()
        tg.send_text(ann, dm, "/grid")
        assert "send 2–9 photos at once" in await reply_text(tg, dm, mark)


async def test_a_reply_before_telegram_answers_the_collecting_message_counts(tg: FakeTelegram, bot_app,
                                                                              face_photo: Path) -> None:
    """Users see the collecting message as soon as Telegram has it; the bot learns its id only from
    the answer, which can come later than a quick reply to it."""
    grp = tg.group_chat()
    ann = tg.user(first_name="Ann", language_code="en")
    answer = tg.hold_answer_next("sendMessage")
    tg.send_text(ann, grp, "/grid")
    await answer.reached()
    collecting = tg.messages_in(grp["id"])[-1]
    assert "reply to this message" in collecting["text"]
    tg.send_photo(ann, grp, face_photo.read_bytes(), reply_to=collecting)
    await eventually(lambda: not tg.pending_updates, what="the reply fetched by the bot")
    answer.release()
    await eventually(lambda: "1 so far: Ann" in tg.message(grp["id"], collecting["message_id"])["text"],
                     timeout=60, what="the early reply counted")
