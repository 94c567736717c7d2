"""Text as Telegram stores it: command entities on incoming text, parse_mode on outgoing text.

Offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from .state import ApiError, bad_request

COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def incoming_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command and mention entities Telegram attaches to a user's text or caption."""
    found = [("bot_command", m) for m in COMMAND.finditer(text)]
    found += [("mention", m) for m in MENTION.finditer(text) if not text[: m.start()].endswith("/")]
    entities = []
    for kind, m in found:
        if kind == "mention" and any(k == "bot_command" and c.start() <= m.start() < c.end() for k, c in found):
            continue
        entities.append({"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())})
    return sorted(entities, key=lambda e: e["offset"])


# parse_mode="HTML" -------------------------------------------------------------------------
_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "code": "code", "pre": "pre",
    "a": "text_link", "tg-spoiler": "spoiler", "span": "spoiler", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


class _HtmlToEntities(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.entities: list[dict[str, Any]] = []
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []

    def _fail(self, why: str) -> ApiError:
        return bad_request(f"can't parse entities: {why}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise self._fail(f'Unsupported start tag "{tag}" at byte offset {len(self.text.encode())}')
        self.stack.append((tag, utf16_len(self.text), dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            expected = f'"</{self.stack[-1][0]}>"' if self.stack else "none"
            raise self._fail(f'Unmatched end tag "</{tag}>", expected {expected}')
        _, start, attrs = self.stack.pop()
        length = utf16_len(self.text) - start
        if length:
            entity: dict[str, Any] = {"type": _HTML_TAGS[tag], "offset": start, "length": length}
            if tag == "a":
                entity["url"] = attrs.get("href") or ""
            self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.text += data


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    parser = _HtmlToEntities()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise bad_request("can't parse entities: Can't find end tag corresponding to start tag "
                          f'"{parser.stack[-1][0]}"')
    return parser.text, sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))


# parse_mode="MarkdownV2": only the rule bots break most (unescaped reserved characters) -----
_V2_RESERVED = set("#+-={}.!>")


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch in _V2_RESERVED:
            offset = len(text[:i].encode())
            raise bad_request(
                f"can't parse entities: Character '{ch}' is reserved and must be escaped with the preceding '\\'"
                f" (byte offset {offset})"
            )
        if ch not in "*_~|`[]()":
            out.append(ch)
        i += 1
    return "".join(out), []


def format_text(text: str, parse_mode: str | None, entities: Any = None) -> tuple[str, list[dict[str, Any]]]:
    """Apply parse_mode like Telegram: returns (plain text, entities)."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return re.sub(r"[*_`]", "", text), []
    if mode:
        raise bad_request("unsupported parse_mode")
    return text, list(entities or [])
