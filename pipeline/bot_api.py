"""The HTTP clients a process opens to the Bot API (the bot's application, a worker's sender): PTB's
HTTPXRequest, with one TLS context per process for all of them."""

from __future__ import annotations

import functools
import ssl

import httpx
from telegram.request import HTTPXRequest

from settings import TelegramSettings


@functools.cache
def _tls() -> ssl.SSLContext:
    # httpx's default (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), built once: httpx builds one
    # per client, ~20 ms of CPU and the whole CA bundle each time, and PTB builds a client for each
    # request object again every time an application starts.
    return httpx.create_ssl_context()


def bot_api_requests(tg: TelegramSettings, connection_pool_size: int) -> tuple[HTTPXRequest, HTTPXRequest]:
    """(the request for every call but getUpdates, with the upload timeout; the one for getUpdates)."""
    tls = {"verify": _tls()}
    return (HTTPXRequest(connection_pool_size=connection_pool_size, media_write_timeout=tg.upload_timeout,
                         httpx_kwargs=tls),
            HTTPXRequest(connection_pool_size=1, httpx_kwargs=tls))
