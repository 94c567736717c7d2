"""Groups (privacy mode on): /yahey replying to a photo or as its caption; only the requester's
press counts; the video replies to the original photo; a group → supergroup migration mid-render."""

from __future__ import annotations

from pathlib import Path

from bot_helpers import eventually, first_button, jobs_rows, keyboard_for, running_bot, settings_of

from tests.fake_engine import Gate
from tests.fake_telegram import FakeTelegram


async def test_group_flow_with_a_strangers_press_refused(tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    ann, bob = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Bob", language_code="zh-hans")
    grp = tg.group_chat(title="Friends")
    tg.add_bot_to_group(ann, grp)

    photo = tg.send_photo(ann, grp, face_photo.read_bytes())  # privacy mode: the bot does not see this
    tg.send_text(bob, grp, "/yahey", reply_to=photo)  # bob asks for ann's photo
    keyboard = await keyboard_for(tg, grp)
    assert keyboard.params["reply_parameters"]["message_id"] == photo["message_id"]
    data = first_button(tg, grp, keyboard)

    stranger = tg.press_button(ann, grp, keyboard.result, data)  # not the requester
    refused = await tg.wait_for("answerCallbackQuery", 10,
                                where=lambda c: c.params["callback_query_id"] == stranger["id"])
    assert refused.params["show_alert"] is True and "Only the person who asked" in refused.params["text"]
    assert jobs_rows(settings_of(bot_app)) == []  # nothing started

    mark = tg.mark()
    tg.press_button(bob, grp, keyboard.result, data)
    delivered = await tg.wait_for("sendVideo", 180, since=mark, where=lambda c: c.ok)
    assert delivered.params["chat_id"] == grp["id"]
    assert delivered.params["reply_parameters"]["message_id"] == photo["message_id"]
    assert "短" in delivered.params["caption"]  # bob's language
    settings = settings_of(bot_app)
    await eventually(lambda: [(r["status"], r["user_id"]) for r in jobs_rows(settings)] == [("done", bob["id"])],
                     what="one job, bob's, done")


async def test_yahey_as_caption_and_without_a_photo(tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    ann = tg.user(language_code="en")
    grp = tg.group_chat()
    tg.send_text(ann, grp, "/yahey")  # no photo
    answer = await tg.wait_for("sendMessage", 10, where=lambda c: c.params["chat_id"] == grp["id"])
    assert "Reply to a photo with /yahey" in answer.params["text"]

    mark = tg.mark()
    photo = tg.send_photo(ann, grp, face_photo.read_bytes(), caption="/yahey@yahey_test_bot")
    keyboard = await keyboard_for(tg, grp, mark)
    assert keyboard.params["reply_parameters"]["message_id"] == photo["message_id"]

    # The same as a reply to one of the bot's messages (not a /grid collection): still a request.
    mark = tg.mark()
    again = tg.send_photo(ann, grp, face_photo.read_bytes() + b"\0", caption="/yahey", reply_to=answer.result)
    keyboard = await keyboard_for(tg, grp, mark)
    assert keyboard.params["reply_parameters"]["message_id"] == again["message_id"]


async def test_group_becomes_supergroup_mid_render(tg: FakeTelegram, make_settings, fake_engine,
                                                   face_photo: Path) -> None:
    gate = Gate()
    async with running_bot(make_settings(), fake_engine.gated(gate)) as app:
        ann = tg.user(language_code="en")
        grp = tg.group_chat()
        tg.send_photo(ann, grp, face_photo.read_bytes(), caption="/yahey")
        keyboard = await keyboard_for(tg, grp)
        tg.press_button(ann, grp, keyboard.result, first_button(tg, grp, keyboard))
        await gate.wait_entered()  # mid-render
        new_id = -1_000_000_000_000 - abs(grp["id"]) % 1_000_000
        tg.migrate_chat(grp["id"], new_id)
        gate.open()

        delivered = await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
        assert delivered.params["chat_id"] == new_id
        # The photo stayed in the old chat (its id names another message in the new one): the video
        # comes without a reply rather than answering the wrong message.
        assert "reply_parameters" not in delivered.params
        assert "reply_to_message" not in tg.message(new_id, delivered.result["message_id"])
        settings = settings_of(app)
        await eventually(lambda: [(r["status"], r["chat_id"]) for r in jobs_rows(settings)] == [("done", new_id)],
                         what="the job followed the chat")
