"""The one thread every Paddle Inference predictor is created and run on.

Paddle Inference with oneDNN keeps per-thread state: a predictor run from a fresh thread again and
again (asyncio.to_thread picks any thread of its pool) fails after a few threads with a bare
`RuntimeError: std::exception` (reproduced: the fourth new thread). Confined to one thread it runs
indefinitely. The hop costs microseconds next to a forward pass of a hundred milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paddle-inference")
_thread_ident: list[int] = []


def _remember() -> None:
    if not _thread_ident:
        _thread_ident.append(threading.get_ident())


def on_paddle_thread(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Call fn on the paddle thread and wait for it (directly when already on it)."""
    if _thread_ident and threading.get_ident() == _thread_ident[0]:
        return fn(*args, **kwargs)

    def run() -> T:
        _remember()
        return fn(*args, **kwargs)

    return _executor.submit(run).result()
