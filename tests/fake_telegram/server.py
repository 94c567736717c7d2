"""The aiohttp app that plays api.telegram.org for the bot under test, and the FakeTelegram handle."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import web

from .methods import METHODS, Request
from .state import ApiError, Call, Failure, State
from .updates import UserActions

log = logging.getLogger("fake_telegram")

# Form fields PTB sends as raw strings; everything else in a form is JSON-encoded by PTB.
STRING_FIELDS = {
    "text", "caption", "parse_mode", "callback_query_id", "file_id", "url", "secret_token", "action",
    "video_note", "inline_query_id", "sticker_format", "next_offset", "switch_pm_text",
    "inline_message_id", "title", "description", "short_description", "name", "language_code",
    "file_name", "message_effect_id", "business_connection_id", "emoji", "ip_address", "query",
    "video", "photo", "document", "audio", "animation", "voice", "thumbnail", "sticker", "cover",
}


def _decode_field(name: str, value: str) -> Any:
    if name in STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class Hold:
    """Calls kept waiting by FakeTelegram.hold_next until release()."""

    def __init__(self, method: str, times: int) -> None:
        self.method = method
        self.remaining = times
        self.waiting = 0
        self._released = asyncio.Event()
        self._reached = asyncio.Event()

    async def wait_here(self) -> None:
        self.waiting += 1
        self._reached.set()
        await self._released.wait()

    async def reached(self, timeout: float = 60) -> None:
        """Wait until a call is being held."""
        await asyncio.wait_for(self._reached.wait(), timeout)

    def release(self) -> None:
        self._released.set()


class FakeTelegram(UserActions):
    """A Bot API server on 127.0.0.1 (random free port) for one test; see the package docstring."""

    def __init__(self, token: str = "123456:TEST-token", bot_username: str = "yahey_test_bot",
                 bot_first_name: str = "Yahey Test Bot", privacy_mode: bool = True, strict: bool = True,
                 host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": int(token.split(":", 1)[0]), "is_bot": True, "first_name": bot_first_name, "username": bot_username,
        }
        self.privacy_mode = privacy_mode
        self.strict = strict
        self.host, self.port = host, port
        self.state = State(self.bot_user)
        self.changed = asyncio.Event()  # replaced on every change; waiters hold the old one
        self._calls_changed = asyncio.Event()
        self.poll_generation = 0
        self.polls = 0  # getUpdates requests served (they are not in `calls`)
        self.closing = False
        self.webhook_errors: list[tuple[float, str]] = []
        self.downloads: list[str] = []  # file paths the bot downloaded
        self.fake_errors: list[str] = []  # the fake itself crashed on a request (a bug here)
        self.dropped: list[str] = []  # methods whose connection drop_next() closed
        self.sticker_set_limit = 120  # stickers a set holds (Telegram's limit for video sets)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task | None = None
        # Faults (see "Faults" in the package docstring).
        self._outage: tuple[int, str, set[str] | None] | None = None
        self.outage_answers = 0  # requests answered with the outage's error
        self._delays: list[tuple[str, float, list[int]]] = []
        self._drops: list[tuple[str, list[int]]] = []
        self._lost_answers: list[tuple[str, list[int]]] = []
        self.lost_answers: list[str] = []  # methods processed whose answer lose_answer_next() cut off
        self._holds: list[Hold] = []
        self._answer_holds: list[Hold] = []

    # lifecycle -------------------------------------------------------------------------------
    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()
        self._webhook_task = asyncio.create_task(self._deliver_to_webhook())
        return self

    async def stop(self) -> None:
        self.closing = True
        self.wake()
        if self._webhook_task:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.stop()
        if self.strict and exc_type is None and (self.state.unknown_calls or self.fake_errors):
            raise AssertionError(
                f"fake Telegram: unknown methods called {[c.method for c in self.state.unknown_calls]}, "
                f"fake errors {self.fake_errors}"
            )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def wake(self) -> None:
        """Something changed (an update, a webhook): wake long polls and the webhook sender."""
        old, self.changed = self.changed, asyncio.Event()
        old.set()

    # inspection --------------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        """Every request the bot made except getUpdates, in arrival-of-answer order."""
        return self.state.calls

    @property
    def unknown_calls(self) -> list[Call]:
        return self.state.unknown_calls

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot (getUpdates offset) or not yet taken by its webhook."""
        return self.state.updates

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()
                and (chat_id is None or c.params.get("chat_id") == chat_id)]

    def mark(self) -> int:
        """Position in `calls` now: pass as wait_for(since=...) to ignore what came before."""
        return len(self.calls)

    async def wait_for(self, method: str | Iterable[str], timeout: float = 30,
                       where: Callable[[Call], Any] | None = None, since: int | Call | None = None) -> Call:
        """The first recorded call (from `since` on) to `method` for which `where(call)` is true,
        waiting up to `timeout` seconds for it. A `where` that raises counts as false."""
        names = {method.lower()} if isinstance(method, str) else {m.lower() for m in method}
        start = since.index + 1 if isinstance(since, Call) else (since or 0)
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls[start:]:
                if call.method.lower() in names and self._matches(where, call):
                    return call
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = "\n  ".join(repr(c) for c in self.calls[-15:])
                raise AssertionError(f"no {sorted(names)} call matched within {timeout}s; last calls:\n  {recent}")
            event = self._calls_changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_polls(self, n: int, timeout: float = 30) -> None:
        """Wait until `n` getUpdates requests have reached the server (a long poll is then waiting)."""
        deadline = time.monotonic() + timeout
        while self.polls < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{n} polls expected, {self.polls} within {timeout}s")
            await asyncio.sleep(0.01)

    @staticmethod
    def _matches(where: Callable[[Call], Any] | None, call: Call) -> bool:
        if where is None:
            return True
        try:
            return bool(where(call))
        except Exception:
            return False

    def messages_in(self, chat_id: int, from_bot: bool = True) -> list[dict[str, Any]]:
        """Messages in the chat as they are now (after edits and deletes), oldest first; by default
        only the bot's."""
        found = self.state.messages.get(chat_id, {}).values()
        return [copy.deepcopy(m) for m in sorted(found, key=lambda m: m["message_id"])
                if not from_bot or m.get("from", {}).get("id") == self.bot_user["id"]]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        found = self.state.message(chat_id, message_id)
        return copy.deepcopy(found) if found else None

    def buttons(self, chat_id: int, message_id: int) -> list[tuple[str, str | None]]:
        """(text, callback_data) of each inline button on a message."""
        markup = (self.state.message(chat_id, message_id) or {}).get("reply_markup") or {}
        return [(b["text"], b.get("callback_data")) for row in markup.get("inline_keyboard", []) for b in row]

    def file_bytes(self, file_id: str) -> bytes:
        return self.state.files[file_id].data

    def inline_answer(self, query: dict[str, Any]) -> dict[str, Any] | None:
        """The answerInlineQuery params (results decoded) for an inline query, None while unanswered."""
        return self.state.inline_answers.get(query["id"])

    def sticker_set(self, name: str) -> dict[str, Any] | None:
        return self.state.sticker_sets.get(name)

    def delete_sticker_set(self, name: str) -> None:
        """The owner deletes the pack (with @Stickers): it is gone for the bot too."""
        self.state.sticker_sets.pop(name, None)

    def answer_to(self, query: dict[str, Any]) -> dict[str, Any] | None:
        """The answerCallbackQuery params for a pressed button, None while unanswered."""
        return self.state.answers.get(query["id"])

    def commands(self, language_code: str = "", scope: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        key = json.dumps([scope or {"type": "default"}, language_code], sort_keys=True)
        return self.state.commands.get(key, [])

    # faults ----------------------------------------------------------------------------------
    def start_outage(self, status: int = 502, description: str = "Bad Gateway",
                     methods: Iterable[str] | None = None) -> None:
        """Answer every request (file downloads included; getUpdates only when named in `methods`)
        with this HTTP error until end_outage()."""
        self._outage = (status, description, {m.lower() for m in methods} if methods is not None else None)

    def end_outage(self) -> None:
        self._outage = None

    def _in_outage(self, name: str) -> tuple[int, str] | None:
        if self._outage is None:
            return None
        status, description, methods = self._outage
        if (methods is None and name != "getupdates") or (methods is not None and name in methods):
            self.outage_answers += 1
            return status, description
        return None

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Process the next `times` calls to `method` at once but answer them `seconds` later (what
        Telegram does with a big upload: the message exists before the client hears about it)."""
        self._delays.append((method.lower(), seconds, [times]))

    def drop_next(self, method: str, times: int = 1) -> None:
        """Close the connection of the next `times` calls to `method` without processing them or
        answering (a connection reset on the way)."""
        self._drops.append((method.lower(), [times]))

    def lose_answer_next(self, method: str, times: int = 1) -> None:
        """Process the next `times` calls to `method` (they succeed: the sticker is in the set, the
        message sent) and then close the connection without answering: the bot cannot tell whether
        the call went through."""
        self._lost_answers.append((method.lower(), [times]))

    def hold_next(self, method: str, times: int = 1) -> Hold:
        """Keep the next `times` calls to `method` ("download" for file downloads) waiting, before
        they are processed, until `hold.release()`. `await hold.reached()` waits for the first."""
        hold = Hold(method.lower(), times)
        self._holds.append(hold)
        return hold

    def hold_answer_next(self, method: str, times: int = 1) -> Hold:
        """Process the next `times` calls to `method` at once (the message exists and can be replied
        to) but keep their answers back until `hold.release()`: the bot has not heard yet."""
        hold = Hold(method.lower(), times)
        self._answer_holds.append(hold)
        return hold

    @staticmethod
    def _take(entries: list, name: str) -> Any:
        for entry in entries:
            if entry[0] == name and entry[-1][0] > 0:
                entry[-1][0] -= 1
                return entry
        return None

    @staticmethod
    async def _held(name: str, holds: list[Hold]) -> None:
        for hold in holds:
            if hold.method == name and hold.remaining > 0:
                hold.remaining -= 1
                await hold.wait_here()
                return

    # failure injection ------------------------------------------------------------------------
    def fail_next(self, method: str, error_code: int = 400, description: str = "Bad Request: injected",
                  retry_after: int | None = None, times: int = 1, migrate_to_chat_id: int | None = None,
                  where: Callable[[dict[str, Any]], Any] | None = None) -> None:
        """Answer the next `times` calls to `method` (whose params satisfy `where`) with this error."""
        parameters: dict[str, Any] = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
        error = ApiError(error_code, description, parameters)
        self.state.failures.setdefault(method.lower(), []).append(Failure(error, times, where))

    def _injected_failure(self, name: str, params: dict[str, Any]) -> ApiError | None:
        queue = self.state.failures.get(name, [])
        for failure in queue:
            if failure.where is None or failure.where(params):
                failure.times -= 1
                if failure.times <= 0:
                    queue.remove(failure)
                return failure.error
        return None

    # HTTP -------------------------------------------------------------------------------------
    @staticmethod
    async def _decode(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
        params: dict[str, Any] = {k: _decode_field(k, v) for k, v in request.query.items()}
        files: dict[str, bytes] = {}
        names: dict[str, str] = {}
        if request.content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("JSON body is not an object")
                params.update(body)
        elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    names[key] = value.filename
                else:
                    params[key] = _decode_field(key, value)
        return params, files, names

    async def _api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").to_json(), status=401)
        try:
            params, files, names = await self._decode(request)
        except ValueError:
            return web.json_response(ApiError(400, "Bad Request: can't parse JSON").to_json(), status=400)
        handler = METHODS.get(name.lower())
        outage = self._in_outage(name.lower())
        if outage is not None:
            return web.json_response(ApiError(outage[0], outage[1]).to_json(), status=outage[0])
        if name.lower() == "getupdates":
            self.polls += 1
            return await self._answer(handler, Request(name, params, files, names), None)
        if self._take(self._drops, name.lower()) is not None:
            self.dropped.append(name)
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=499)  # never reaches the client: the connection is gone
        await self._held(name.lower(), self._holds)
        call = Call(index=-1, method=name, params=params, files=files, file_names=names, time=time.monotonic())
        if handler is None:
            log.warning("fake Telegram: the bot called unknown method %s", name)
            self.state.unknown_calls.append(call)
            error: ApiError | None = ApiError(404, "Not Found: method not found")
        else:
            error = self._injected_failure(name.lower(), params)
        response = await self._answer(handler, Request(name, params, files, names), error)
        lose = self._take(self._lost_answers, name.lower()) is not None
        await self._held(name.lower(), self._answer_holds)
        delay = self._take(self._delays, name.lower())
        if delay is not None:
            await asyncio.sleep(delay[1])
        body = json.loads(response.body)
        call.ok = body["ok"]
        call.result = body.get("result")
        call.error_code = body.get("error_code")
        call.description = body.get("description")
        call.index = len(self.state.calls)
        self.state.calls.append(call)
        log.debug("fake Telegram: %s -> %s", name, "ok" if call.ok else f"{call.error_code} {call.description}")
        old, self._calls_changed = self._calls_changed, asyncio.Event()
        old.set()
        if lose:
            self.lost_answers.append(name)
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=499)  # never reaches the client: the connection is gone
        return response

    async def _answer(self, handler: Any, request: Request, error: ApiError | None) -> web.Response:
        try:
            if error is not None:
                raise error
            result = await handler(self, request)
        except ApiError as exc:
            return web.json_response(exc.to_json(), status=exc.code)
        except Exception as exc:  # a bug in the fake: make it loud in the test
            log.exception("fake Telegram crashed on %s", request.method)
            self.fake_errors.append(f"{request.method}: {exc!r}")
            return web.json_response(ApiError(500, f"Internal Server Error: {exc!r}").to_json(), status=500)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        outage = self._in_outage("download")
        if outage is not None:
            return web.Response(status=outage[0], text=outage[1])
        await self._held("download", self._holds)
        stored = self.state.files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        self.downloads.append(stored.file_path)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _deliver_to_webhook(self) -> None:
        """While a webhook is set, POST pending updates to it in order, as Telegram does."""
        while not self.closing:
            hook, event = self.state.webhook, self.changed
            if hook and self.state.updates:
                update = self.state.updates[0]
                headers = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]} if hook.get("secret_token") else {}
                try:
                    assert self._session is not None
                    async with self._session.post(hook["url"], json=update, headers=headers) as resp:
                        delivered = 200 <= resp.status < 300
                        why = f"Wrong response from the webhook: {resp.status} {resp.reason}"
                except (aiohttp.ClientError, OSError) as exc:
                    delivered, why = False, f"Connection failed: {exc!r}"
                if delivered:
                    if self.state.updates and self.state.updates[0] is update:
                        self.state.updates.pop(0)
                else:
                    self.webhook_errors.append((time.time(), why))
                    await asyncio.sleep(0.2)
                continue
            try:
                await asyncio.wait_for(event.wait(), 1.0)
            except TimeoutError:
                pass
