"""Status messages (throttled edits that never stop a job) and the template keyboard's callback data."""

from __future__ import annotations

import telegram

from engine import OutputKind, Template
from pipeline.keyboards import (
    find_template,
    parse_background,
    parse_callback,
    parse_conversion,
    result_keyboard,
    template_keyboard,
)
from pipeline.status_messages import StatusMessage, status_interval
from tests.fake_telegram import FakeTelegram


async def test_edits_are_throttled_forced_ones_go_through_and_errors_are_skipped():
    async with FakeTelegram(token="1:T") as tg, telegram.Bot(tg.token, base_url=tg.base_url) as bot:
        dm = tg.private_chat(tg.user())
        sent = await bot.send_message(dm["id"], "⏳ Queued")
        status = StatusMessage(bot, dm["id"], sent.message_id, min_interval=3600)
        await status.show("🎬 Rendering 0%", force=True)
        await status.show("🎬 Rendering 50%")  # within the interval: skipped
        await status.show("🎬 Rendering 50%", force=True)
        await status.show("🎬 Rendering 50%", force=True)  # same text: not sent again
        tg.fail_next("editMessageText", error_code=429, description="Too Many Requests: retry after 9",
                     retry_after=9)
        await status.show("📤 Sending", force=True)  # a flood wait skips the edit, no exception
        await status.show("✅ Done", force=True)
        edits = [c.params["text"] for c in tg.calls_to("editMessageText") if c.ok]
        assert edits == ["🎬 Rendering 0%", "🎬 Rendering 50%", "✅ Done"]
        assert tg.message(dm["id"], sent.message_id)["text"] == "✅ Done"
        tg.state.messages[dm["id"]].pop(sent.message_id)  # the user deleted it
        await status.show("❌ Failed", force=True)  # "message to edit not found": skipped quietly
        without = StatusMessage(bot, dm["id"], None)
        await without.final("❌ Failed", reply_to=None)  # no status message: a new one
        assert tg.messages_in(dm["id"])[-1]["text"] == "❌ Failed"


def test_groups_get_half_the_edit_rate():
    assert status_interval(42, 3.0) == 3.0 and status_interval(-42, 3.0) == 6.0


def _template(template_id: str, title: str = "T") -> Template:
    from pathlib import Path

    return Template(template_id, Path("/t") / template_id, title, "中", "En", Path("/t/v.mp4"), None)


def test_callback_data_fits_64_bytes_and_finds_its_template():
    short, long = _template("yahey"), _template("a-very-long-template-id-" + "x" * 60)
    markup = template_keyboard(12345, [short, long], "zh", clean_background=True)
    buttons = [b for row in markup.inline_keyboard for b in row]
    assert [b.text for b in buttons] == ["中", "中", "☑ 纯色背景"]
    for button in buttons:
        assert len(button.callback_data.encode()) <= 64
    assert parse_background(buttons[-1].callback_data) == 12345
    parsed = [parse_callback(b.callback_data) for b in buttons[:2]]
    assert [find_template(key, offer, [short, long]) for offer, key in parsed] == [short, long]
    assert parse_callback("t:notanumber:x") is None and parse_callback("x:1:y") is None
    assert find_template("missing", 12345, [short, long]) is None


def test_the_buttons_under_a_video_name_the_job_and_the_kind():
    markup = result_keyboard(987654321, "en")
    buttons = [b for row in markup.inline_keyboard for b in row]
    assert [b.text for b in buttons] == ["⭕ Round video", "🐜 Sticker", "🎞 GIF", "➕ Add to my pack", "📤 Share"]
    assert [parse_conversion(b.callback_data) for b in buttons[:4]] == [
        (987654321, OutputKind.NOTE), (987654321, OutputKind.STICKER), (987654321, OutputKind.GIF),
        (987654321, OutputKind.PACK)]
    assert buttons[4].switch_inline_query == ""  # pick a chat, then inline mode
    assert parse_conversion("c:1:video") is None and parse_conversion("c:x:note") is None
