"""A fake Telegram Bot API server for tests: real python-telegram-bot talks to it over HTTP.

    from tests.fake_telegram import FakeTelegram

    async with FakeTelegram(token="123456:TEST-token", bot_username="yahey_test_bot") as tg:
        bot = telegram.Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
        # (or put tg.base_url / tg.base_file_url into the bot's [telegram] settings)

People and chats (plain Telegram dicts; chats made here are known to the server):
    ann = tg.user(id=1, first_name="Ann", language_code="zh-hans")   # id optional (counts from 1001)
    dm = tg.private_chat(ann)
    grp = tg.group_chat(title="Friends")            # basic group; supergroup=True for -100... ids
    tg.add_bot_to_group(ann, grp)                   # my_chat_member update
    tg.block_bot(ann) / tg.unblock_bot(ann)         # sends to ann's chat -> 403 "bot was blocked"

What users do (each queues an update and returns the Message / CallbackQuery dict):
    m = tg.send_text(ann, dm, "/start")            # bot_command entities added like Telegram
    m = tg.send_photo(ann, dm, jpeg_bytes, caption=None, reply_to=None)
        # m["photo"]: PhotoSize list, last = the image itself (real width/height/file_size),
        # smaller JPEG copies before it; file_unique_id follows the bytes (same image, same id)
    m = tg.send_document(ann, dm, data, "x.png", "image/png", caption=None, file_size=None)
    m = tg.send_video(ann, dm, mp4, caption=None, reply_to=None, duration=None, width=None, height=None)
    q = tg.press_button(ann, dm, message_id_or_dict, "callback-data")   # asserts the button exists
    old_msg, new_msg = tg.migrate_chat(old_chat_id, new_chat_id)       # group -> supergroup
    In groups, privacy mode (default) stores messages the bot would not see without queueing them:
    the bot sees commands (incl. in captions), replies to itself and service messages.

What the bot did:
    call = await tg.wait_for("sendVideo", timeout=120, where=lambda c: c.ok, since=None)
        # first matching recorded call from `since` (an index, e.g. tg.mark(), or a Call) on;
        # AssertionError listing the last calls on timeout
    tg.calls            # [Call]: .method .params (decoded) .files (field -> bytes) .file_names .time
                        #         .ok .result .error_code .description; getUpdates is not recorded
    tg.calls_to("sendMessage", chat_id=None)
    tg.messages_in(chat_id)       # the bot's messages now (after edits/deletes); from_bot=False: all
    tg.message(chat_id, message_id), tg.buttons(chat_id, message_id) -> [(text, callback_data)]
    tg.answer_to(q)               # answerCallbackQuery params, or None
    tg.file_bytes(file_id), tg.downloads, tg.commands(language_code=""), tg.pending_updates, tg.polls,
    await tg.wait_polls(n)        # until n getUpdates have reached the server

Failures:
    tg.fail_next("sendVideo", error_code=429, description="Too Many Requests: retry after 1",
                 retry_after=1, times=1)
    tg.fail_next("sendMessage", error_code=403, description="Forbidden: bot was blocked by the user",
                 where=lambda params: params["chat_id"] == dm["id"])
    Built in, with Telegram's wording: "message is not modified", "message to edit not found",
    "chat not found", group upgraded (migrate_to_chat_id), query too old (second answer),
    "file is too big" (getFile > 20 MB), BUTTON_DATA_INVALID (> 64 bytes), "message is too long",
    bad HTML / MarkdownV2 entities, 409 for two concurrent getUpdates or getUpdates with a webhook.
    Unknown methods answer 404 "Not Found: method not found", are logged and kept in
    tg.unknown_calls; with strict=True (default) leaving the `async with` then fails the test.

Faults (what Telegram sometimes does), all explicit so tests never race the clock:
    tg.start_outage(502) ... tg.end_outage()   # every request (and file download) answers 502
    tg.delay_next("sendVideo", 8)    # processed now, answered 8 s later (a slow upload answer)
    tg.drop_next("sendVideo")        # connection closed, nothing processed (tg.dropped)
    tg.lose_answer_next("addStickerToSet")  # processed (it succeeded), then the connection closed
                                            # before the answer (tg.lost_answers)
    hold = tg.hold_next("download")  # kept waiting until hold.release(); await hold.reached()
    hold = tg.hold_answer_next("sendMessage")  # processed now (users see it), answered on release

Webhook: after the bot's setWebhook(url, secret_token=...), pending updates are POSTed to the URL
with X-Telegram-Bot-Api-Secret-Token instead of waiting for getUpdates (tg.webhook_errors).
"""

from .methods import METHODS
from .server import FakeTelegram, Hold
from .state import ApiError, Call

__all__ = ["METHODS", "ApiError", "Call", "FakeTelegram", "Hold"]
