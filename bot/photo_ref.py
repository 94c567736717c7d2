"""Which image of a message a request is about (Telegram's ids for it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhotoRef:
    message_id: int
    file_id: str
    file_unique_id: str
    file_size: int | None
