"""Logging set-up: one line per event, and the bot token masked in every record.

The token appears in Bot API URLs (httpx logs them, exceptions quote them), raw or URL-encoded
("123:abc" as "123%3Aabc"), so the filter sits on the root handlers and rewrites each record's
message and traceback text, in both spellings, before it is written.
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import quote

MASK = "<BOT_TOKEN>"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TokenMaskingFilter(logging.Filter):
    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token
        encoded = quote(token, safe="")
        secret = token.partition(":")[2]
        # Longest first, so a spelling containing another is replaced whole; the secret half alone
        # is a credential too.
        spellings = {token, encoded, encoded.replace("%3A", "%3a"), secret if len(secret) >= 8 else ""}
        self._spellings = sorted((s for s in spellings if s), key=len, reverse=True)
        self._formatter = logging.Formatter()

    def _mask(self, text: str) -> str:
        for spelling in self._spellings:
            text = text.replace(spelling, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._token:
            return True
        record.msg = self._mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True


class OneLineFormatter(logging.Formatter):
    """Tracebacks and multi-line messages folded onto the event's one line (" | " between lines)."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


def setup_logging(level: str, token: str) -> None:
    """Configure the root logger once at start-up; every handler gets the masking filter."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(OneLineFormatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    install_token_filter(token)
    # httpx logs every request URL (token included) at INFO: keep only its warnings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)  # one DEBUG line per cursor call
    # With max_retries=0 the rate limiter logs every 429 as an ERROR with a traceback before
    # handing it to pipeline/telegram_calls.py, which retries it and logs its own one line.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)


def install_token_filter(token: str) -> TokenMaskingFilter:
    mask = TokenMaskingFilter(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(mask)
    return mask
