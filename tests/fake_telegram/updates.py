"""The user's side: people, chats, and the updates they cause (messages, button presses, migrations).

Mixed into FakeTelegram; every method here is synchronous (call it from the test's event loop) and
returns the Telegram dict it created. Updates the bot would not see (privacy mode in groups) are
stored as chat messages but not queued, as on Telegram.
"""

from __future__ import annotations

import copy
import itertools
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import media
from .formatting import incoming_entities

if TYPE_CHECKING:
    from .state import State

Json = dict[str, Any]
_ids = itertools.count(1001)


def _id_of(message: int | Json) -> int:
    return message["message_id"] if isinstance(message, dict) else int(message)


class UserActions:
    state: State
    bot_user: Json
    privacy_mode: bool

    def wake(self) -> None:  # provided by the server
        raise NotImplementedError

    # people and chats ------------------------------------------------------------------------
    def user(
        self,
        id: int | None = None,
        first_name: str = "Ann",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> Json:
        """A Telegram User dict (not a bot); ids count up from 1001 when not given."""
        user: Json = {"id": next(_ids) if id is None else id, "is_bot": False, "first_name": first_name}
        for key, value in (("last_name", last_name), ("username", username), ("language_code", language_code)):
            if value is not None:
                user[key] = value
        return user

    def private_chat(self, user: Json) -> Json:
        """The private chat between `user` and the bot (the bot may write to it from now on)."""
        chat: Json = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        self.state.remember_chat(chat)
        return chat

    def group_chat(self, id: int | None = None, title: str = "Yahey friends", supergroup: bool | None = None,
                   username: str | None = None) -> Json:
        """A basic group (id -4xxxxxxxxx) or supergroup (id -100xxxxxxxxxx) the bot is a member of;
        a given id starting with -100 makes a supergroup unless `supergroup` says otherwise."""
        if supergroup is None:
            supergroup = id is not None and str(id).startswith("-100")
        if id is None:
            n = next(_ids)
            id = -(1_000_000_000_000 + n) if supergroup else -(4_000_000_000 + n)
        chat: Json = {"id": id, "type": "supergroup" if supergroup else "group", "title": title}
        if username:
            chat["username"] = username
        self.state.remember_chat(chat)
        return chat

    def block_bot(self, user: Json) -> Json:
        """The user blocks the bot: sends to their chat now fail with 403; returns the my_chat_member."""
        self.state.blocked.add(user["id"])
        return self._member_change(user, self.private_chat(user), "member", "kicked")

    def unblock_bot(self, user: Json) -> None:
        self.state.blocked.discard(user["id"])

    def add_bot_to_group(self, user: Json, chat: Json) -> Json:
        """`user` adds the bot to `chat`: the my_chat_member update Telegram sends."""
        self.state.remember_chat(chat)
        return self._member_change(user, chat, "left", "member")

    def _member_change(self, user: Json, chat: Json, old: str, new: str) -> Json:
        change = {
            "chat": chat, "from": user, "date": int(time.time()),
            "old_chat_member": {"status": old, "user": self.bot_user},
            "new_chat_member": {"status": new, "user": self.bot_user} | ({"until_date": 0} if new == "kicked" else {}),
        }
        self._queue("my_chat_member", change)
        return change

    # messages from users -----------------------------------------------------------------------
    def send_text(self, user: Json, chat: Json, text: str, reply_to: int | Json | None = None) -> Json:
        """A text message (commands get their bot_command entities, as Telegram adds them)."""
        entities = incoming_entities(text)
        return self._user_message(user, chat, reply_to, text=text, entities=entities or None)

    def send_photo(self, user: Json, chat: Json, image_bytes: bytes, caption: str | None = None,
                   reply_to: int | Json | None = None, width: int | None = None, height: int | None = None,
                   media_group_id: str | None = None) -> Json:
        """A compressed photo: PhotoSize list, the largest being the image itself with its real size
        (width/height override what the header says, e.g. for bytes that are not an image).
        `media_group_id`: one photo of an album (send_album sends a whole one)."""
        sizes = self.photo_sizes(image_bytes, width, height)
        return self._user_message(user, chat, reply_to, photo=sizes, media_group_id=media_group_id,
                                  **self._caption(caption))

    def send_album(self, user: Json, chat: Json, images: list[bytes], caption: str | None = None) -> list[Json]:
        """2-10 photos sent together: one message each, sharing a media_group_id (the caption, as
        Telegram does, on the first)."""
        group = str(uuid.uuid4().int % 10**18)
        return [self.send_photo(user, chat, image, caption if n == 0 else None, media_group_id=group)
                for n, image in enumerate(images)]

    def send_document(self, user: Json, chat: Json, data: bytes, file_name: str = "file.bin",
                      mime_type: str = "application/octet-stream", caption: str | None = None,
                      reply_to: int | Json | None = None, file_size: int | None = None) -> Json:
        """A file sent as a document; `file_size` overrides the reported size (e.g. a 25 MB file
        without 25 MB of bytes: getFile then answers "file is too big")."""
        extension = file_name.rsplit(".", 1)[-1][:8] if "." in file_name else "bin"
        stored = self.state.store_file("document", data, extension, file_size)
        document = {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_name": file_name, "mime_type": mime_type, "file_size": stored.file_size,
        }
        stored.meta = document
        return self._user_message(user, chat, reply_to, document=document, **self._caption(caption))

    def send_video(self, user: Json, chat: Json, data: bytes, caption: str | None = None,
                   reply_to: int | Json | None = None, duration: int | None = None, width: int | None = None,
                   height: int | None = None, file_name: str | None = None, mime_type: str = "video/mp4",
                   file_size: int | None = None) -> Json:
        """A video; width/height/duration default to what ffmpeg finds in `data` (0 if unreadable)."""
        probe = media.probe_video(data) if None in (duration, width, height) else {}
        stored = self.state.store_file("video", data, "mp4", file_size)
        video: Json = {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "width": width if width is not None else probe.get("width", 0),
            "height": height if height is not None else probe.get("height", 0),
            "duration": duration if duration is not None else probe.get("duration", 0),
            "mime_type": mime_type, "file_size": stored.file_size,
        }
        if file_name:
            video["file_name"] = file_name
        stored.meta = video
        return self._user_message(user, chat, reply_to, video=video, **self._caption(caption))

    def send_video_note(self, user: Json, chat: Json, data: bytes, reply_to: int | Json | None = None,
                        duration: int | None = None, length: int | None = None,
                        file_size: int | None = None) -> Json:
        """A round video note (Telegram gives notes no caption); length/duration default to what
        ffmpeg finds in `data`."""
        probe = media.probe_video(data) if None in (duration, length) else {}
        stored = self.state.store_file("video_note", data, "mp4", file_size)
        note: Json = {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "length": length if length is not None else probe.get("width", 0),
            "duration": duration if duration is not None else probe.get("duration", 0),
            "file_size": stored.file_size,
        }
        stored.meta = note
        return self._user_message(user, chat, reply_to, video_note=note)

    def press_button(self, user: Json, chat: Json, message: int | Json, callback_data: str,
                     check: bool = True) -> Json:
        """`user` presses an inline button of the bot's message; returns the CallbackQuery dict.
        With check=True the message must exist and carry a button with this callback_data."""
        current = self.state.message(chat["id"], _id_of(message))
        if check:
            assert current is not None, f"no message {_id_of(message)} in chat {chat['id']}"
            keyboard = (current.get("reply_markup") or {}).get("inline_keyboard", [])
            offered = [b.get("callback_data") for row in keyboard for b in row]
            assert callback_data in offered, (f"message {_id_of(message)} offers no button {callback_data!r}; "
                                              f"it has {offered}")
        query: Json = {
            "id": str(uuid.uuid4().int % 10**19),
            "from": user,
            "chat_instance": str(abs(hash(("instance", chat["id"]))) % 10**19),
            "data": callback_data,
        }
        if current is not None:
            query["message"] = copy.deepcopy(current)
        self.state.callback_queries[query["id"]] = query
        self._queue("callback_query", query)
        return query

    def edit_message(self, message: Json, caption: str | None = None, text: str | None = None) -> Json:
        """The sender edits their message: an `edited_message` update with the new content."""
        edited = copy.deepcopy(message)
        if caption is not None:
            edited.update(self._caption(caption))
        if text is not None:
            edited["text"] = text
            edited["entities"] = incoming_entities(text) or None
        edited["edit_date"] = int(time.time())
        edited = {k: v for k, v in edited.items() if v is not None}
        self.state.store_message(edited)
        if self._bot_sees(edited):
            self._queue("edited_message", edited)
        return edited

    def channel_chat(self, title: str = "Yahey news") -> Json:
        """A channel the bot is an admin of (it receives its posts)."""
        chat: Json = {"id": -(1_000_000_000_000 + next(_ids)), "type": "channel", "title": title}
        self.state.remember_chat(chat)
        return chat

    def post_to_channel(self, chat: Json, image_bytes: bytes | None = None, caption: str | None = None,
                        text: str | None = None) -> Json:
        """A channel post (no `from`: channels have no sender), queued as `channel_post`."""
        content: Json = {"sender_chat": chat}
        if image_bytes is not None:
            content["photo"] = self.photo_sizes(image_bytes)
            content.update(self._caption(caption))
        if text is not None:
            content["text"] = text
            content["entities"] = incoming_entities(text) or None
        message: Json = {"message_id": self.state.next_message_id(chat["id"]), "chat": chat,
                         "date": int(time.time()), **{k: v for k, v in content.items() if v is not None}}
        self.state.store_message(message)
        self._queue("channel_post", message)
        return message

    def inline_query(self, user: Json, query: str = "", chat_type: str = "sender") -> Json:
        """`user` types "@bot <query>" in some chat: an inline_query update."""
        inline = {"id": str(uuid.uuid4().int % 10**19), "from": user, "query": query, "offset": "",
                  "chat_type": chat_type}
        self.state.inline_queries[inline["id"]] = inline
        self._queue("inline_query", inline)
        return inline

    def migrate_chat(self, old_chat_id: int, new_chat_id: int, user: Json | None = None) -> tuple[Json, Json]:
        """The group becomes a supergroup: a `migrate_to_chat_id` service message in the old chat
        and a `migrate_from_chat_id` one in the new; sends to the old id then fail with
        parameters.migrate_to_chat_id (PTB's ChatMigrated)."""
        old = self.state.chats[old_chat_id]
        new: Json = {"id": new_chat_id, "type": "supergroup", "title": old.get("title", "")}
        self.state.remember_chat(new)
        sender = user or self.user(id=777000, first_name="Telegram", language_code=None)
        first = self._user_message(sender, old, None, migrate_to_chat_id=new_chat_id)
        self.state.migrated[old_chat_id] = new_chat_id
        second = self._user_message(sender, new, None, migrate_from_chat_id=old_chat_id)
        return first, second

    # building blocks -----------------------------------------------------------------------------
    def photo_sizes(self, image: bytes, width: int | None = None, height: int | None = None) -> list[Json]:
        """Store `image` (and smaller JPEG copies) as a photo; returns the PhotoSize list, largest last."""
        size = media.image_size(image)
        if width is None or height is None:
            if size is None:
                raise ValueError("send_photo needs image bytes (or explicit width/height); "
                                 "use send_document for other files")
            width, height = size
        sizes, stored_files = [], []
        for data, w, h in [*media.thumbnails(image, width, height), (image, width, height)]:
            stored = self.state.store_file("photo", data, "jpg")
            stored_files.append(stored)
            sizes.append({"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                          "file_size": stored.file_size, "width": w, "height": h})
        for stored in stored_files:
            stored.meta = {"sizes": sizes}
        return sizes

    @staticmethod
    def _caption(caption: str | None) -> Json:
        if caption is None:
            return {}
        return {"caption": caption, "caption_entities": incoming_entities(caption) or None}

    def _user_message(self, user: Json, chat: Json, reply_to: int | Json | None, **content: Any) -> Json:
        if chat["id"] not in self.state.chats:
            self.state.remember_chat(chat)
        reply = None
        if reply_to is not None:
            target = self.state.message(chat["id"], _id_of(reply_to))
            assert target is not None, f"reply_to: no message {_id_of(reply_to)} in chat {chat['id']}"
            reply = {k: v for k, v in target.items() if k != "reply_to_message"}
        message = self.state.new_message(self.state.chats[chat["id"]], user, reply_to_message=reply, **content)
        if self._bot_sees(message):
            self._queue("message", message)
        return message

    def _bot_sees(self, message: Json) -> bool:
        """Privacy mode: in groups the bot gets commands, replies to itself and service messages."""
        if message["chat"]["type"] == "private" or not self.privacy_mode:
            return True
        service = ("migrate_to_chat_id", "migrate_from_chat_id", "new_chat_members", "left_chat_member")
        if any(k in message for k in service):
            return True
        if (message.get("reply_to_message") or {}).get("from", {}).get("id") == self.bot_user["id"]:
            return True
        text = message.get("text") or message.get("caption") or ""
        for entity in message.get("entities") or message.get("caption_entities") or []:
            start, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])  # UTF-16 code units
            word = text.encode("utf-16-le")[start:end].decode("utf-16-le")
            addressed = "@" not in word or word.split("@", 1)[1].lower() == self.bot_user["username"].lower()
            if entity["type"] == "bot_command" and addressed:
                return True
            if entity["type"] == "mention" and word[1:].lower() == self.bot_user["username"].lower():
                return True
        return False

    def _queue(self, kind: str, payload: Json) -> None:
        self.state.add_update(kind, copy.deepcopy(payload))
        self.wake()
