"""The Bot API methods the fake answers, one function each, registered by lower-case name.

Each takes the FakeTelegram and the decoded request, returns the `result` or raises ApiError with
Telegram's own wording (PTB maps the wording/status to its exceptions).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import media
from .formatting import format_text, utf16_len
from .state import ApiError, StoredFile, bad_request

if TYPE_CHECKING:
    from .server import FakeTelegram

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_UPLOAD = 50 * 1024 * 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same"
    " as a current content and reply markup of the message"
)
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
}


@dataclass
class Request:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    file_names: dict[str, str]


Handler = Callable[["FakeTelegram", Request], Awaitable[Any]]
METHODS: dict[str, Handler] = {}


def method(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            METHODS[name.lower()] = fn
        return fn

    return register


# shared checks ------------------------------------------------------------------------------
def _chat(tg: FakeTelegram, chat_id: Any) -> dict[str, Any]:
    st = tg.state
    if chat_id is None or chat_id == "":
        raise bad_request("chat_id is empty")
    if isinstance(chat_id, str):
        if chat_id.startswith("@"):
            found = st.usernames.get(chat_id.lower())
            if found is None:
                raise bad_request("chat not found")
            chat_id = found
        else:
            try:
                chat_id = int(chat_id)
            except ValueError:
                raise bad_request("chat not found") from None
    if chat_id in st.migrated:
        raise ApiError(
            400, "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": st.migrated[chat_id]},
        )
    if chat_id in st.blocked:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    chat = st.chats.get(chat_id)
    if chat is None:
        raise bad_request("chat not found")
    return chat


def _without_reply(message: dict[str, Any]) -> dict[str, Any]:
    # Telegram nests reply_to_message one level only.
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _reply_to(tg: FakeTelegram, chat: dict[str, Any], p: dict[str, Any]) -> dict[str, Any] | None:
    params = p.get("reply_parameters")
    if isinstance(params, str):
        params = json.loads(params)
    if params:
        message_id, allow = params.get("message_id"), params.get("allow_sending_without_reply", False)
        if params.get("chat_id") not in (None, chat["id"]):
            chat = _chat(tg, params["chat_id"])
    else:
        message_id, allow = p.get("reply_to_message_id"), p.get("allow_sending_without_reply", False)
    if message_id is None:
        return None
    target = tg.state.message(chat["id"], int(message_id))
    if target is None:
        if allow:
            return None
        raise bad_request("message to be replied not found")
    return _without_reply(target)


def _markup(p: dict[str, Any]) -> dict[str, Any] | None:
    """The inline keyboard a message will carry (other keyboards are not part of the Message)."""
    markup = p.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    if not markup or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            if not button.get("text"):
                raise bad_request("BUTTON_TEXT_EMPTY")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _text(p: dict[str, Any], key: str, limit: int, required: bool) -> tuple[str | None, list[dict[str, Any]]]:
    raw = p.get(key)
    if raw is None or raw == "":
        if required:
            raise bad_request("message text is empty")
        return None, []
    entities_key = "entities" if key == "text" else "caption_entities"
    text, entities = format_text(str(raw), p.get("parse_mode"), p.get(entities_key))
    if required and not text.strip():
        raise bad_request("message text is empty")
    if utf16_len(text) > limit:
        raise bad_request("message is too long" if key == "text" else "message caption is too long")
    return text, entities


def _send(tg: FakeTelegram, chat: dict[str, Any], p: dict[str, Any], **content: Any) -> dict[str, Any]:
    reply = _reply_to(tg, chat, p)
    markup = _markup(p)
    return tg.state.new_message(
        chat, tg.bot_user, reply_to_message=reply, reply_markup=markup, **content
    )


def _editable(tg: FakeTelegram, p: dict[str, Any]) -> dict[str, Any]:
    if p.get("inline_message_id"):
        raise bad_request("inline messages are not supported by the fake")
    chat = _chat(tg, p.get("chat_id"))
    message = tg.state.message(chat["id"], int(p.get("message_id") or 0))
    if message is None:
        raise bad_request("message to edit not found")
    if message.get("from", {}).get("id") != tg.bot_user["id"]:
        raise bad_request("message can't be edited")
    return message


def _apply_edit(message: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    if all(message.get(k) == v for k, v in changes.items()):
        raise bad_request(NOT_MODIFIED)
    for key, value in changes.items():
        if value in (None, []):
            message.pop(key, None)
        else:
            message[key] = value
    message["edit_date"] = int(time.time())
    return message


# identity, commands, webhook -----------------------------------------------------------------
@method("getMe")
async def get_me(tg: FakeTelegram, r: Request) -> Any:
    return tg.bot_user | {
        "can_join_groups": True,
        "can_read_all_group_messages": not tg.privacy_mode,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _commands_key(p: dict[str, Any]) -> str:
    scope = p.get("scope") or {"type": "default"}
    if isinstance(scope, str):
        scope = json.loads(scope)
    return json.dumps([scope, p.get("language_code") or ""], sort_keys=True)


@method("setMyCommands")
async def set_my_commands(tg: FakeTelegram, r: Request) -> Any:
    commands = r.params.get("commands") or []
    for c in commands:
        if not re.fullmatch(r"[a-z0-9_]{1,32}", c.get("command", "")):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(c.get("description", "")) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    tg.state.commands[_commands_key(r.params)] = commands
    return True


@method("getMyCommands")
async def get_my_commands(tg: FakeTelegram, r: Request) -> Any:
    return tg.state.commands.get(_commands_key(r.params), [])


@method("deleteMyCommands")
async def delete_my_commands(tg: FakeTelegram, r: Request) -> Any:
    tg.state.commands.pop(_commands_key(r.params), None)
    return True


@method("setMyDescription", "setMyShortDescription", "setMyName", "setChatMenuButton")
async def accepted(tg: FakeTelegram, r: Request) -> Any:
    return True


@method("setWebhook")
async def set_webhook(tg: FakeTelegram, r: Request) -> Any:
    url = r.params.get("url") or ""
    if not url:
        tg.state.webhook = None
        return True
    if not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = r.params.get("secret_token")
    if secret is not None and not (1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)):
        raise bad_request("bad webhook: secret token contains unallowed characters")
    if r.params.get("drop_pending_updates"):
        tg.state.updates.clear()
    tg.state.webhook = {"url": url, "secret_token": secret, "allowed_updates": r.params.get("allowed_updates")}
    tg.wake()
    return True


@method("deleteWebhook")
async def delete_webhook(tg: FakeTelegram, r: Request) -> Any:
    tg.state.webhook = None
    if r.params.get("drop_pending_updates"):
        tg.state.updates.clear()
    tg.wake()
    return True


@method("getWebhookInfo")
async def get_webhook_info(tg: FakeTelegram, r: Request) -> Any:
    hook = tg.state.webhook or {}
    info: dict[str, Any] = {
        "url": hook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(tg.state.updates),
    }
    if tg.webhook_errors:
        info["last_error_date"] = int(tg.webhook_errors[-1][0])
        info["last_error_message"] = tg.webhook_errors[-1][1]
    return info


@method("getUpdates")
async def get_updates(tg: FakeTelegram, r: Request) -> Any:
    st = tg.state
    if st.webhook:
        raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                            "use deleteWebhook to delete the webhook first")
    st.confirm(int(r.params.get("offset") or 0))
    limit = max(1, min(100, int(r.params.get("limit") or 100)))
    deadline = time.monotonic() + max(0.0, float(r.params.get("timeout") or 0))
    # A newer getUpdates ends an older one with 409, as Telegram does: two pollers on one token
    # (say, a process that was meant to be dead) show up as an error instead of a silent race.
    tg.poll_generation += 1
    mine = tg.poll_generation
    tg.wake()
    while True:
        if mine != tg.poll_generation:
            raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                "make sure that only one bot instance is running")
        if st.updates:
            return copy.deepcopy(st.updates[:limit])
        remaining = deadline - time.monotonic()
        if remaining <= 0 or tg.closing:
            return []
        changed = tg.changed
        try:
            await asyncio.wait_for(changed.wait(), remaining)
        except TimeoutError:
            pass


# chats ----------------------------------------------------------------------------------------
@method("getChat")
async def get_chat(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    return chat | {
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
            "premium_subscription": False, "gifts_from_channels": False,
        },
    }


@method("sendChatAction")
async def send_chat_action(tg: FakeTelegram, r: Request) -> Any:
    _chat(tg, r.params.get("chat_id"))
    if r.params.get("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


# messages ---------------------------------------------------------------------------------------
@method("sendMessage")
async def send_message(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    text, entities = _text(r.params, "text", MAX_TEXT, required=True)
    return _send(tg, chat, r.params, text=text, entities=entities or None)


@method("editMessageText")
async def edit_message_text(tg: FakeTelegram, r: Request) -> Any:
    message = _editable(tg, r.params)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    text, entities = _text(r.params, "text", MAX_TEXT, required=True)
    # Without reply_markup the inline keyboard goes away, as on Telegram.
    return _apply_edit(message, {"text": text, "entities": entities or None, "reply_markup": _markup(r.params)})


@method("editMessageCaption")
async def edit_message_caption(tg: FakeTelegram, r: Request) -> Any:
    message = _editable(tg, r.params)
    if "text" in message:
        raise bad_request("there is no caption in the message to edit")
    caption, entities = _text(r.params, "caption", MAX_CAPTION, required=False)
    return _apply_edit(message, {"caption": caption, "caption_entities": entities or None,
                                 "reply_markup": _markup(r.params)})


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(tg: FakeTelegram, r: Request) -> Any:
    message = _editable(tg, r.params)
    return _apply_edit(message, {"reply_markup": _markup(r.params)})


@method("deleteMessage")
async def delete_message(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    if tg.state.messages.get(chat["id"], {}).pop(int(r.params.get("message_id") or 0), None) is None:
        raise bad_request("message to delete not found")
    return True


@method("answerCallbackQuery")
async def answer_callback_query(tg: FakeTelegram, r: Request) -> Any:
    query_id = str(r.params.get("callback_query_id") or "")
    if query_id not in tg.state.callback_queries or query_id in tg.state.answers:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    if len(r.params.get("text") or "") > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    tg.state.answers[query_id] = dict(r.params)
    return True


# files --------------------------------------------------------------------------------------------
@method("getFile")
async def get_file(tg: FakeTelegram, r: Request) -> Any:
    stored = tg.state.files.get(str(r.params.get("file_id") or ""))
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.file_size > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.file_size,
        "file_path": stored.file_path,
    }


def _media_input(tg: FakeTelegram, r: Request, field: str) -> tuple[bytes | None, str | None, StoredFile | None]:
    """(uploaded bytes, uploaded file name, already known file) for a media parameter."""
    if field in r.files:
        return r.files[field], r.file_names.get(field), None
    value = r.params.get(field)
    if isinstance(value, str) and value.startswith("attach://"):
        name = value[len("attach://"):]
        if name not in r.files:
            raise bad_request(f"file attached as {name} not found")
        return r.files[name], r.file_names.get(name), None
    if not value:
        raise bad_request(f"there is no {field} in the request")
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    stored = tg.state.files.get(str(value))
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return None, None, stored


def _check_upload(data: bytes) -> None:
    if not data:
        raise bad_request("file must be non-empty")
    if len(data) > MAX_UPLOAD:
        raise ApiError(413, "Request Entity Too Large")


def _caption(r: Request) -> dict[str, Any]:
    caption, entities = _text(r.params, "caption", MAX_CAPTION, required=False)
    return {"caption": caption, "caption_entities": entities or None}


@method("sendVideo")
async def send_video(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    data, name, known = _media_input(tg, r, "video")
    if known is not None:
        if known.kind != "video":
            raise bad_request(f"can't use file of type {known.kind.capitalize()} as Video")
        video = dict(known.meta)
    else:
        _check_upload(data)
        probe = {k: v for k, v in (await asyncio.to_thread(media.probe_video, data)).items() if k != "has_audio"}
        stored = tg.state.store_file("video", data, "mp4")
        video = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": int(r.params.get("width") or probe.get("width") or 0),
            "height": int(r.params.get("height") or probe.get("height") or 0),
            "duration": int(r.params.get("duration") or probe.get("duration") or 0),
            "mime_type": "video/mp4",
            "file_size": stored.file_size,
        }
        if name:
            video["file_name"] = name
        stored.meta = video
    return _send(tg, chat, r.params, video=video, **_caption(r))


_PROBE_KEYS = ("width", "height", "duration")
STICKER_MAX_BYTES = 256 * 1024
NOTE_MAX_LENGTH = 639  # Telegram refuses 640 and more: "wrong video note length"


async def _probe(data: bytes) -> dict[str, Any]:
    return await asyncio.to_thread(media.probe_video, data)


@method("sendVideoNote")
async def send_video_note(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    data, _, known = _media_input(tg, r, "video_note")
    if known is not None:
        if known.kind != "video_note":
            raise bad_request(f"can't use file of type {known.kind.capitalize()} as VideoNote")
        return _send(tg, chat, r.params, video_note=dict(known.meta))
    _check_upload(data)
    probe = await _probe(data)
    if not probe:
        raise bad_request("VIDEO_CONTENT_TYPE_INVALID")
    length = int(r.params.get("length") or probe["width"])
    if length > NOTE_MAX_LENGTH:
        raise bad_request("wrong video note length")
    if probe["seconds"] > 60.5:
        raise bad_request("video note is too long")
    if probe["width"] != probe["height"]:  # Telegram shows a non-square file as an ordinary video
        stored = tg.state.store_file("video", data, "mp4")
        video = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "width": probe["width"],
                 "height": probe["height"], "duration": probe["duration"], "mime_type": "video/mp4",
                 "file_size": stored.file_size}
        stored.meta = video
        return _send(tg, chat, r.params, video=video)
    stored = tg.state.store_file("video_note", data, "mp4")
    note = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "length": length,
            "duration": int(r.params.get("duration") or probe["duration"]), "file_size": stored.file_size}
    stored.meta = note
    return _send(tg, chat, r.params, video_note=note)


@method("sendAnimation")
async def send_animation(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    data, name, known = _media_input(tg, r, "animation")
    if known is not None:
        if known.kind != "animation":
            raise bad_request(f"can't use file of type {known.kind.capitalize()} as Animation")
        return _send(tg, chat, r.params, animation=dict(known.meta), **_caption(r))
    _check_upload(data)
    probe = await _probe(data)
    if not probe:
        raise bad_request("ANIMATION_CONTENT_TYPE_INVALID")
    stored = tg.state.store_file("animation", data, "mp4")
    animation = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                 **{k: probe[k] for k in _PROBE_KEYS}, "mime_type": "video/mp4", "file_size": stored.file_size,
                 "file_name": name or "animation.mp4"}
    stored.meta = animation
    return _send(tg, chat, r.params, animation=animation, **_caption(r))


async def _video_sticker(tg: FakeTelegram, data: bytes, emoji: str | None) -> StoredFile:
    """Telegram's rules for a video sticker file (core.telegram.org/stickers), checked on upload."""
    if len(data) > STICKER_MAX_BYTES:
        raise bad_request("file is too big")
    probe = await _probe(data)
    if not probe or "webm" not in probe["container"] or probe["codec"] != "vp9":
        raise bad_request("STICKER_VIDEO_NOWEBM")
    if probe["has_audio"]:
        raise bad_request("STICKER_VIDEO_AUDIO")  # a sticker has no sound stream
    w, h = probe["width"], probe["height"]
    if max(w, h) != 512 or min(w, h) > 512:
        raise bad_request("STICKER_VIDEO_DIMENSIONS")
    if probe["seconds"] > 3.05:
        raise bad_request("STICKER_VIDEO_LONG")
    if probe["fps"] > 30.5:
        raise bad_request("STICKER_VIDEO_FPS")
    stored = tg.state.store_file("sticker", data, "webm")
    stored.meta = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "type": "regular",
                   "width": w, "height": h, "is_animated": False, "is_video": True, "file_size": stored.file_size}
    if emoji:
        stored.meta["emoji"] = emoji
    return stored


@method("sendSticker")
async def send_sticker(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    data, _, known = _media_input(tg, r, "sticker")
    if known is not None:
        if known.kind != "sticker":
            raise bad_request(f"can't use file of type {known.kind.capitalize()} as Sticker")
        return _send(tg, chat, r.params, sticker=dict(known.meta))
    _check_upload(data)
    stored = await _video_sticker(tg, data, r.params.get("emoji"))
    return _send(tg, chat, r.params, sticker=dict(stored.meta))


def _sticker_owner(tg: FakeTelegram, user_id: Any) -> int:
    """A sticker set's owner must be a user who has talked to the bot."""
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        raise bad_request("USER_ID_INVALID") from None
    if uid not in tg.state.chats:
        raise bad_request("PEER_ID_INVALID")
    return uid


@method("uploadStickerFile")
async def upload_sticker_file(tg: FakeTelegram, r: Request) -> Any:
    _sticker_owner(tg, r.params.get("user_id"))
    if r.params.get("sticker_format") != "video":
        raise bad_request("sticker_format must be video for a .webm")
    data, _, known = _media_input(tg, r, "sticker")
    if known is not None or data is None:
        raise bad_request("a sticker file must be uploaded")
    stored = await _video_sticker(tg, data, None)
    return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.file_size}


async def _input_sticker(tg: FakeTelegram, r: Request, raw: Any) -> dict[str, Any]:
    item = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(item, dict) or not item.get("emoji_list"):
        raise bad_request("sticker emoji_list is empty")
    ref = item.get("sticker")
    if isinstance(ref, str) and ref.startswith("attach://"):
        data = r.files.get(ref[len("attach://"):])
        if data is None:
            raise bad_request("file attached not found")
        stored = await _video_sticker(tg, data, item["emoji_list"][0])
    else:
        stored = tg.state.files.get(str(ref))
        if stored is None or stored.kind != "sticker":
            raise bad_request("STICKER_FILE_INVALID")
    return dict(stored.meta) | {"emoji": item["emoji_list"][0]}


_SET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@method("createNewStickerSet")
async def create_new_sticker_set(tg: FakeTelegram, r: Request) -> Any:
    owner = _sticker_owner(tg, r.params.get("user_id"))
    name = str(r.params.get("name") or "")
    suffix = f"_by_{tg.bot_user['username']}"
    if not _SET_NAME.match(name) or not name.lower().endswith(suffix.lower()) or "__" in name:
        raise bad_request("STICKERSET_INVALID")
    if name.lower() in {n.lower() for n in tg.state.sticker_sets}:
        raise bad_request("sticker set name is already occupied")
    title = str(r.params.get("title") or "")
    if not 1 <= len(title) <= 64:
        raise bad_request("STICKER_TITLE_INVALID")
    raw = r.params.get("stickers")
    items = json.loads(raw) if isinstance(raw, str) else raw
    if not items or len(items) > 50:
        raise bad_request("STICKERS_EMPTY")
    stickers = [await _input_sticker(tg, r, item) for item in items]
    tg.state.sticker_sets[name] = {"name": name, "title": title, "sticker_type": "regular",
                                   "stickers": [s | {"set_name": name} for s in stickers], "owner": owner}
    return True


@method("addStickerToSet")
async def add_sticker_to_set(tg: FakeTelegram, r: Request) -> Any:
    owner = _sticker_owner(tg, r.params.get("user_id"))
    found = tg.state.sticker_sets.get(str(r.params.get("name") or ""))
    if found is None or found["owner"] != owner:
        raise bad_request("STICKERSET_INVALID")
    if len(found["stickers"]) >= tg.sticker_set_limit:
        raise bad_request("STICKERS_TOO_MUCH")
    sticker = await _input_sticker(tg, r, r.params.get("sticker"))
    found["stickers"].append(sticker | {"set_name": found["name"]})
    return True


@method("getStickerSet")
async def get_sticker_set(tg: FakeTelegram, r: Request) -> Any:
    found = tg.state.sticker_sets.get(str(r.params.get("name") or ""))
    if found is None:
        raise bad_request("STICKERSET_INVALID")
    return {k: v for k, v in found.items() if k != "owner"}


@method("deleteStickerSet")
async def delete_sticker_set(tg: FakeTelegram, r: Request) -> Any:
    """A bot may delete the sets it created; an unknown name is STICKERSET_INVALID."""
    if tg.state.sticker_sets.pop(str(r.params.get("name") or ""), None) is None:
        raise bad_request("STICKERSET_INVALID")
    return True


_INLINE_TYPES = {"video": "video_file_id", "sticker": "sticker_file_id", "mpeg4_gif": "mpeg4_file_id",
                 "gif": "gif_file_id", "photo": "photo_file_id", "document": "document_file_id"}


@method("answerInlineQuery")
async def answer_inline_query(tg: FakeTelegram, r: Request) -> Any:
    query_id = str(r.params.get("inline_query_id") or "")
    if query_id not in tg.state.inline_queries or query_id in tg.state.inline_answers:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    raw = r.params.get("results")
    results = json.loads(raw) if isinstance(raw, str) else (raw or [])
    if len(results) > 50:
        raise bad_request("RESULTS_TOO_MUCH")
    ids = [str(item.get("id", "")) for item in results]
    if any(not 1 <= len(i.encode()) <= 64 for i in ids) or len(set(ids)) != len(ids):
        raise bad_request("RESULT_ID_INVALID")
    for item in results:
        field = _INLINE_TYPES.get(item.get("type", ""))
        if field is None or not item.get(field):
            raise bad_request("RESULT_TYPE_INVALID")
        stored = tg.state.files.get(item[field])
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if item["type"] in ("video", "document") and not item.get("title"):  # required for these two
            raise bad_request("RESULT_TITLE_EMPTY")
    tg.state.inline_answers[query_id] = dict(r.params) | {"results": results}
    return True


@method("sendDocument")
async def send_document(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    data, name, known = _media_input(tg, r, "document")
    if known is not None:
        document = dict(known.meta) if known.kind == "document" else {
            "file_id": known.file_id, "file_unique_id": known.file_unique_id, "file_size": known.file_size,
        }
    else:
        _check_upload(data)
        extension = (name or "file.bin").rsplit(".", 1)[-1][:8] or "bin"
        stored = tg.state.store_file("document", data, extension)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": name or "file",
            "mime_type": "application/octet-stream",
            "file_size": stored.file_size,
        }
        stored.meta = document
    return _send(tg, chat, r.params, document=document, **_caption(r))


@method("sendPhoto")
async def send_photo(tg: FakeTelegram, r: Request) -> Any:
    chat = _chat(tg, r.params.get("chat_id"))
    data, _, known = _media_input(tg, r, "photo")
    if known is not None:
        if known.kind != "photo":
            raise bad_request(f"can't use file of type {known.kind.capitalize()} as Photo")
        sizes = known.meta["sizes"]
    else:
        _check_upload(data)
        if media.image_size(data) is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        sizes = tg.photo_sizes(data)
    return _send(tg, chat, r.params, photo=sizes, **_caption(r))
