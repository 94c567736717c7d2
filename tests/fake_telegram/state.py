"""What the fake Bot API server remembers: chats, messages, files, pending updates, recorded calls.

Plain data only (dicts in Telegram's JSON shapes), so tests can inspect it directly.
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ApiError(Exception):
    """A Bot API error answer: becomes {"ok": false, "error_code", "description", "parameters"}."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.parameters = parameters or {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


@dataclass
class Call:
    """One request the bot made: decoded params, uploaded files and what the fake answered."""

    index: int
    method: str  # as the bot spelled it, e.g. "sendVideo"
    params: dict[str, Any]
    files: dict[str, bytes]  # multipart field name -> uploaded bytes
    file_names: dict[str, str]  # multipart field name -> file name the bot gave
    time: float  # time.monotonic() when the request arrived
    ok: bool = True
    result: Any = None
    error_code: int | None = None
    description: str | None = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    def __repr__(self) -> str:  # short: calls are printed in assertion messages
        status = "ok" if self.ok else f"{self.error_code} {self.description}"
        shown = {k: v for k, v in self.params.items() if k != "reply_markup"}
        return f"<Call #{self.index} {self.method} {shown} files={list(self.files)} -> {status}>"


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # photo | video | document | animation | audio | voice | thumbnail
    data: bytes
    file_path: str
    file_size: int
    meta: dict[str, Any] = field(default_factory=dict)  # the Telegram object (video, document, ...)


@dataclass
class Failure:
    """An error to answer instead of running a method (set up with FakeTelegram.fail_next)."""

    error: ApiError
    times: int
    where: Callable[[dict[str, Any]], bool] | None = None


class State:
    def __init__(self, bot_user: dict[str, Any]):
        self.bot_user = bot_user
        self.chats: dict[int, dict[str, Any]] = {}
        self.usernames: dict[str, int] = {}  # "@name" -> chat id
        self.migrated: dict[int, int] = {}  # old group id -> supergroup id
        self.blocked: set[int] = set()  # private chats whose user blocked the bot
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}  # chat -> message id -> message
        self._message_ids: dict[int, itertools.count] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self.updates: list[dict[str, Any]] = []  # not yet confirmed by the bot
        self._update_ids = itertools.count(700_000_001)
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}  # callback query id -> answer params
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope+language key -> commands
        self.webhook: dict[str, Any] | None = None
        self.calls: list[Call] = []
        self.unknown_calls: list[Call] = []
        self.failures: dict[str, list[Failure]] = {}  # lower-case method -> queued failures
        self.sticker_sets: dict[str, dict[str, Any]] = {}  # name -> StickerSet (+ "owner")
        self.inline_queries: dict[str, dict[str, Any]] = {}  # id -> InlineQuery
        self.inline_answers: dict[str, dict[str, Any]] = {}  # inline query id -> answer params

    # chats and messages -------------------------------------------------------------------
    def remember_chat(self, chat: dict[str, Any]) -> None:
        self.chats[chat["id"]] = dict(chat)
        if chat.get("username"):
            self.usernames["@" + chat["username"].lower()] = chat["id"]

    def next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def store_message(self, message: dict[str, Any]) -> dict[str, Any]:
        self.messages.setdefault(message["chat"]["id"], {})[message["message_id"]] = message
        return message

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        return self.messages.get(chat_id, {}).get(message_id)

    def new_message(self, chat: dict[str, Any], sender: dict[str, Any], **content: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat["id"]),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
        }
        message.update({k: v for k, v in content.items() if v is not None})
        return self.store_message(message)

    # files --------------------------------------------------------------------------------
    def store_file(self, kind: str, data: bytes, extension: str, file_size: int | None = None) -> StoredFile:
        n = next(self._file_counter)
        # file_id differs per upload like Telegram's; file_unique_id follows the content, so the
        # same bytes sent twice share it (what a "same photo" cache keys on).
        file_id = f"{kind[:3].upper()}ACAgIAAxkB-{n}-{uuid.uuid4().hex[:16]}"
        unique = "AQAD" + hashlib.sha256(kind.encode() + data).hexdigest()[:16]
        folder = {"photo": "photos", "video": "videos", "thumbnail": "thumbnails"}.get(kind, kind + "s")
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            kind=kind,
            data=data,
            file_path=f"{folder}/file_{n}.{extension}",
            file_size=len(data) if file_size is None else file_size,
        )
        self.files[file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    # updates ------------------------------------------------------------------------------
    def add_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        return update

    def confirm(self, offset: int) -> None:
        """getUpdates' offset: ids below a positive offset are confirmed; -N keeps the last N."""
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]
