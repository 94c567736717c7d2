"""The fake Bot API server, driven by the real python-telegram-bot over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io

import numpy as np
import pytest
import telegram
from aiohttp import web
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler

from tests.fake_telegram import FakeTelegram

TOKEN = "123456:TEST-token"


def png(width: int, height: int) -> bytes:
    rng = np.random.default_rng(width * 7 + height)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def tiny_mp4(tmp_path, width: int = 64, height: int = 48, frames: int = 10) -> bytes:
    import imageio_ffmpeg

    path = tmp_path / "clip.mp4"
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=10, macro_block_size=1)
    writer.send(None)
    for i in range(frames):
        writer.send(np.full((height, width, 3), i * 20, dtype=np.uint8).tobytes())
    writer.close()
    return path.read_bytes()


@pytest.fixture
async def tg():
    async with FakeTelegram(token=TOKEN, bot_username="yahey_test_bot") as fake:
        yield fake


@pytest.fixture
async def bot(tg):
    async with telegram.Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as b:
        yield b


async def test_get_me_names_the_bot(bot):
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "yahey_test_bot", True)
    assert me.can_read_all_group_messages is False  # privacy mode


async def test_wrong_token_is_refused(tg):
    with pytest.raises(InvalidToken):
        async with telegram.Bot("999:other", base_url=tg.base_url):
            pass


async def test_updates_are_held_until_confirmed_by_offset(tg, bot):
    ann = tg.user(id=1, first_name="Ann", language_code="zh-hans")
    tg.send_text(ann, tg.private_chat(ann), "/start now")
    first = await bot.get_updates(timeout=0)
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in first] == [u.update_id for u in again]  # not confirmed yet
    message = first[0].message
    assert message.text == "/start now" and message.from_user.language_code == "zh-hans"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6
    assert await bot.get_updates(offset=first[0].update_id + 1, timeout=0) == ()
    assert tg.pending_updates == []


async def test_long_poll_waits_for_the_next_update(tg, bot):
    ann = tg.user()
    polls = tg.polls
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await tg.wait_polls(polls + 1)
    assert not poll.done()
    tg.send_text(ann, tg.private_chat(ann), "hello")
    updates = await poll
    assert [u.message.text for u in updates] == ["hello"]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=1) == ()


async def test_a_second_poller_ends_the_first_with_conflict(tg, bot):
    polls = tg.polls
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await tg.wait_polls(polls + 1)  # the first is waiting on the server before the second comes
    async with telegram.Bot(TOKEN, base_url=tg.base_url) as second_process:
        second = asyncio.create_task(second_process.get_updates(timeout=1))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await first
        assert await second == ()


async def test_send_edit_and_not_modified(tg, bot):
    ann = tg.user()
    chat = tg.private_chat(ann)
    photo = tg.send_photo(ann, chat, png(40, 30))
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ant", callback_data="tpl:ant")]])
    sent = await bot.send_message(chat["id"], "pick one", reply_markup=keyboard,
                                  reply_parameters=ReplyParameters(photo["message_id"]))
    assert sent.reply_to_message.message_id == photo["message_id"] and sent.reply_to_message.photo
    assert tg.buttons(chat["id"], sent.message_id) == [("Ant", "tpl:ant")]

    edited = await bot.edit_message_text("queued (1)", chat["id"], sent.message_id, reply_markup=keyboard)
    assert edited.text == "queued (1)" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("queued (1)", chat["id"], sent.message_id, reply_markup=keyboard)
    await bot.edit_message_text("queued (1)", chat["id"], sent.message_id)  # drops the keyboard
    [now] = tg.messages_in(chat["id"])
    assert now["text"] == "queued (1)" and "reply_markup" not in now
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat["id"], 999)
    assert await bot.delete_message(chat["id"], sent.message_id)
    assert tg.messages_in(chat["id"]) == []


async def test_button_press_and_single_answer(tg, bot):
    ann = tg.user()
    chat = tg.private_chat(ann)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ant", callback_data="tpl:ant")]])
    sent = await bot.send_message(chat["id"], "pick", reply_markup=keyboard)
    with pytest.raises(AssertionError, match="offers no button"):
        tg.press_button(ann, chat, sent.message_id, "tpl:other")
    query = tg.press_button(ann, chat, sent.message_id, "tpl:ant")
    [update] = await bot.get_updates(timeout=0)
    assert update.callback_query.data == "tpl:ant"
    assert update.callback_query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(update.callback_query.id, "Only the requester", show_alert=True)
    assert tg.answer_to(query)["show_alert"] is True
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(update.callback_query.id)


async def test_callback_data_over_64_bytes_is_refused(tg, bot):
    chat = tg.private_chat(tg.user())
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(chat["id"], "pick", reply_markup=keyboard)


async def test_html_parse_mode_becomes_entities(tg, bot):
    chat = tg.private_chat(tg.user())
    sent = await bot.send_message(chat["id"], "<b>蚂蚁</b> &amp; co", parse_mode=ParseMode.HTML)
    assert sent.text == "蚂蚁 & co" and sent.entities[0].type == "bold" and sent.entities[0].length == 2
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(chat["id"], "<x>hi</x>", parse_mode=ParseMode.HTML)


async def test_photo_sizes_and_download(tg, bot):
    ann = tg.user()
    chat = tg.private_chat(ann)
    image = png(1000, 600)
    message = tg.send_photo(ann, chat, image, caption="/yahey")
    largest = message["photo"][-1]
    assert (largest["width"], largest["height"], largest["file_size"]) == (1000, 600, len(image))
    assert [p["width"] for p in message["photo"]] == [90, 320, 800, 1000]
    assert message["caption_entities"][0]["type"] == "bot_command"
    again = tg.send_photo(ann, chat, image)
    assert again["photo"][-1]["file_unique_id"] == largest["file_unique_id"]
    assert again["photo"][-1]["file_id"] != largest["file_id"]

    file = await bot.get_file(largest["file_id"])
    assert file.file_size == len(image)
    assert bytes(await file.download_as_bytearray()) == image
    assert tg.downloads == [file.file_path.rsplit("/", 2)[-2] + "/" + file.file_path.rsplit("/", 1)[-1]]


async def test_big_document_cannot_be_downloaded(tg, bot):
    ann = tg.user()
    message = tg.send_document(ann, tg.private_chat(ann), b"%PDF-1.4", "big.pdf", "application/pdf",
                               file_size=25 * 1024 * 1024)
    assert message["document"]["file_size"] == 25 * 1024 * 1024
    with pytest.raises(BadRequest, match="(?i)file is too big"):
        await bot.get_file(message["document"]["file_id"])


async def test_video_upload_and_resend_by_file_id(tg, bot, tmp_path):
    ann = tg.user()
    chat = tg.private_chat(ann)
    photo = tg.send_photo(ann, chat, png(64, 64))
    clip = tiny_mp4(tmp_path)
    sent = await bot.send_video(chat["id"], clip, caption="Ant Yahey", supports_streaming=True,
                                reply_parameters=ReplyParameters(photo["message_id"]), filename="yahey.mp4")
    assert (sent.video.width, sent.video.height) == (64, 48)  # probed, none were passed
    assert sent.video.file_size == len(clip) and sent.caption == "Ant Yahey"
    call = await tg.wait_for("sendVideo", timeout=5)
    assert call.files["video"] == clip and call.params["supports_streaming"] is True
    assert tg.file_bytes(sent.video.file_id) == clip

    again = await bot.send_video(chat["id"], sent.video.file_id, width=64, height=48, duration=1)
    assert again.video.file_unique_id == sent.video.file_unique_id
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        await bot.send_video(chat["id"], "nonsense-file-id")
    await bot.send_chat_action(chat["id"], "upload_video")
    assert [c.method for c in tg.calls[1:]] == ["sendVideo", "sendVideo", "sendVideo", "sendChatAction"]  # after getMe


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # int retry_after
async def test_injected_429_raises_retry_after_then_passes(tg, bot):
    chat = tg.private_chat(tg.user())
    tg.fail_next("sendVideo", error_code=429, description="Too Many Requests: retry after 1", retry_after=1)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_video(chat["id"], b"\x00\x00\x00\x18ftypmp42", width=8, height=8, duration=1)
    assert caught.value.retry_after in (1, dtm.timedelta(seconds=1))
    sent = await bot.send_video(chat["id"], b"\x00\x00\x00\x18ftypmp42", width=8, height=8, duration=1)
    assert sent.video.width == 8
    assert [c.ok for c in tg.calls_to("sendVideo")] == [False, True]


async def test_blocked_user_and_migrated_group(tg, bot):
    ann = tg.user()
    chat = tg.private_chat(ann)
    tg.block_bot(ann)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(chat["id"], "hi")
    group = tg.group_chat(title="Friends")
    old_msg, new_msg = tg.migrate_chat(group["id"], -1001234567890, user=ann)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(group["id"], "hi")
    assert caught.value.new_chat_id == -1001234567890
    assert (await bot.send_message(-1001234567890, "hi")).chat.type == "supergroup"
    updates = await bot.get_updates(timeout=0)
    kinds = [(u.my_chat_member is not None, u.message and u.message.migrate_to_chat_id,
              u.message and u.message.migrate_from_chat_id) for u in updates]
    assert kinds == [(True, None, None), (False, -1001234567890, None), (False, None, group["id"])]
    chat_info = await bot.get_chat(-1001234567890)
    assert chat_info.title == "Friends"


async def test_group_privacy_mode_hides_plain_photos(tg, bot):
    ann = tg.user()
    group = tg.group_chat()
    photo = tg.send_photo(ann, group, png(50, 50))  # the bot does not see this one
    tg.send_text(ann, group, "/yahey@yahey_test_bot", reply_to=photo)
    tg.send_text(ann, group, "/yahey@some_other_bot", reply_to=photo)
    [update] = await bot.get_updates(timeout=0)
    assert update.message.reply_to_message.photo[-1].width == 50


async def test_unknown_method_is_recorded_and_fails_the_context():
    with pytest.raises(AssertionError, match="unknown methods called.*sendDice"):
        async with FakeTelegram(token=TOKEN) as tg:
            async with telegram.Bot(TOKEN, base_url=tg.base_url) as bot:
                with pytest.raises(InvalidToken, match="Not Found"):
                    await bot.send_dice(1)
            assert [c.method for c in tg.unknown_calls] == ["sendDice"]


async def test_commands_are_stored(tg, bot):
    await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    await bot.set_my_commands([("start", "开始")], language_code="zh")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert tg.commands("zh") == [{"command": "start", "description": "开始"}]


async def test_ptb_application_polls_and_answers(tg):
    async def start(update, context):
        await update.message.reply_text(f"hi {update.effective_user.first_name}")

    app = ApplicationBuilder().token(TOKEN).base_url(tg.base_url).base_file_url(tg.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    ann = tg.user(first_name="Ann")
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=1, drop_pending_updates=True)
        tg.send_text(ann, tg.private_chat(ann), "/start")
        call = await tg.wait_for("sendMessage", timeout=10)
        await app.updater.stop()
        await app.stop()
    assert call.params["text"] == "hi Ann" and call.ok


async def test_webhook_receives_updates_with_the_secret(tg, bot, unused_tcp_port):
    got: asyncio.Queue = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await got.put((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{unused_tcp_port}/hook", secret_token="s3cret")
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        ann = tg.user()
        tg.send_text(ann, tg.private_chat(ann), "via hook")
        secret, update = await asyncio.wait_for(got.get(), 10)
        assert secret == "s3cret" and update["message"]["text"] == "via hook"
        assert (await bot.get_webhook_info()).url.endswith("/hook")
        await bot.delete_webhook()
    finally:
        await runner.cleanup()


async def test_an_outage_answers_502_until_it_ends_downloads_included(tg, bot):
    user = tg.user()
    dm = tg.private_chat(user)
    photo = tg.send_photo(user, dm, png(64, 64))
    tg.start_outage(502)
    with pytest.raises(telegram.error.NetworkError, match="Bad Gateway"):
        await bot.send_message(dm["id"], "hello")
    tg.end_outage()
    file = await bot.get_file(photo["photo"][-1]["file_id"])
    tg.start_outage(502)
    with pytest.raises(telegram.error.NetworkError):
        await file.download_as_bytearray()
    tg.end_outage()
    assert bytes(await file.download_as_bytearray()) == tg.file_bytes(photo["photo"][-1]["file_id"])
    assert tg.outage_answers == 2 and not tg.calls_to("sendMessage")  # refused calls are not recorded
    tg.start_outage(503, "Service Unavailable", methods=["sendMessage"])  # only some methods
    assert (await bot.get_me()).username == "yahey_test_bot"
    with pytest.raises(telegram.error.NetworkError):
        await bot.send_message(dm["id"], "hello")


async def test_a_delayed_answer_is_processed_at_once_and_a_dropped_call_not_at_all(tg, bot):
    user = tg.user()
    dm = tg.private_chat(user)
    tg.delay_next("sendMessage", 3.0)
    with pytest.raises(telegram.error.TimedOut):
        await bot.send_message(dm["id"], "slow", read_timeout=0.5)
    assert [m["text"] for m in tg.messages_in(dm["id"])] == ["slow"]  # it exists before the answer
    tg.drop_next("sendMessage")
    with pytest.raises(telegram.error.NetworkError):
        await bot.send_message(dm["id"], "lost")
    assert tg.dropped == ["sendMessage"] and [m["text"] for m in tg.messages_in(dm["id"])] == ["slow"]
    await bot.send_message(dm["id"], "fine")
    assert [m["text"] for m in tg.messages_in(dm["id"])] == ["slow", "fine"]


async def test_a_held_call_waits_until_released(tg, bot):
    user = tg.user()
    dm = tg.private_chat(user)
    hold = tg.hold_next("sendMessage")
    sending = asyncio.create_task(bot.send_message(dm["id"], "held"))
    await hold.reached()
    assert not sending.done() and tg.messages_in(dm["id"]) == []
    hold.release()
    assert (await sending).text == "held"


async def test_edited_messages_and_channel_posts_arrive_as_their_own_updates(tg, bot):
    user = tg.user()
    dm = tg.private_chat(user)
    photo = tg.send_photo(user, dm, png(64, 64))
    tg.edit_message(photo, caption="new caption")
    channel = tg.channel_chat()
    post = tg.post_to_channel(channel, png(32, 32), caption="/yahey")
    updates = await bot.get_updates(timeout=0)
    assert [(u.message is not None, u.edited_message is not None, u.channel_post is not None) for u in updates] == [
        (True, False, False), (False, True, False), (False, False, True)]
    assert updates[1].edited_message.caption == "new caption" and updates[1].edited_message.edit_date
    assert updates[2].channel_post.from_user is None and updates[2].channel_post.sender_chat.id == channel["id"]
    assert post["caption"] == "/yahey"


async def test_a_lost_answer_is_processed_and_never_heard(tg, bot):
    user = tg.user()
    dm = tg.private_chat(user)
    tg.lose_answer_next("sendMessage")
    with pytest.raises(telegram.error.NetworkError):
        await bot.send_message(dm["id"], "sent, unheard")
    assert tg.lost_answers == ["sendMessage"] and [m["text"] for m in tg.messages_in(dm["id"])] == ["sent, unheard"]
    await bot.send_message(dm["id"], "heard")
    assert [m["text"] for m in tg.messages_in(dm["id"])] == ["sent, unheard", "heard"]
