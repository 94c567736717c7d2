"""Per-user flood control before any download: a token bucket on photos, one "slow down" per
window, and duplicates dropped. Plain logic with an injected clock (no Telegram, no asyncio).

One user sending 40 photos in 10 s gets the burst (3 by default) answered and one polite
"slow down"; the rest are dropped before anything is downloaded or decoded, so everyone else is
answered at once. The same photo forwarded twice within a minute counts once.

An album spends one token per photo: it is admitted while the bucket holds a token, and what it
costs beyond the bucket is owed (the bucket goes below zero), so ten photos sent as one album wait
as long as ten sent one by one before the next is taken.

PressLimit is the same bucket for button presses that start work (conversions): True or False.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    ADMIT = "admit"
    DUPLICATE = "duplicate"  # ignored silently
    SLOW_DOWN = "slow_down"  # tell the user once per window
    THROTTLED = "throttled"  # ignored silently (already told)


@dataclass
class _Bucket:
    tokens: float
    updated: float
    told_at: float = float("-inf")


class FloodControl:
    def __init__(self, burst: int = 3, per_minute: float = 6.0, duplicate_window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_users: int = 10_000) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0  # tokens per second
        self.duplicate_window_s = duplicate_window_s
        self.clock = clock
        self.max_users = max_users
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()
        self._seen: OrderedDict[tuple[int, str], float] = OrderedDict()  # (chat, file_unique_id) -> when

    @property
    def window_s(self) -> float:
        """How long until a spent bucket has one token again (one "slow down" per this window)."""
        return 1.0 / self.rate

    def check(self, user_id: int, chat_id: int, file_unique_id: str) -> Verdict:
        return self.check_album(user_id, chat_id, [file_unique_id])[0]

    def check_album(self, user_id: int, chat_id: int, file_unique_ids: list[str]) -> tuple[Verdict, list[str]]:
        """Photos sent together: the verdict for all of them and, when admitted, those that are not
        duplicates (each costs one token)."""
        now = self.clock()
        self._forget_old(now)
        new = [u for u in dict.fromkeys(file_unique_ids) if (chat_id, u) not in self._seen]
        if not new:
            return Verdict.DUPLICATE, []
        bucket = self._bucket(user_id, now)
        if bucket.tokens < 1.0:
            if now - bucket.told_at >= self.window_s:
                bucket.told_at = now
                return Verdict.SLOW_DOWN, []
            return Verdict.THROTTLED, []
        bucket.tokens -= len(new)  # may go below zero: owed, paid back by the refill
        for unique in new:
            self._seen[(chat_id, unique)] = now
        return Verdict.ADMIT, new

    def _bucket(self, user_id: int, now: float) -> _Bucket:
        bucket = self._buckets.pop(user_id, None)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._buckets[user_id] = bucket  # most recent last
        while len(self._buckets) > self.max_users:
            self._buckets.popitem(last=False)
        return bucket

    def _forget_old(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self.duplicate_window_s:
                break
            del self._seen[key]


class PressLimit:
    """A token bucket per user for presses that start work: `allow` says whether this one may."""

    def __init__(self, burst: int = 6, per_minute: float = 6.0, clock: Callable[[], float] = time.monotonic,
                 max_users: int = 10_000) -> None:
        self._flood = FloodControl(burst, per_minute, clock=clock, max_users=max_users)

    def allow(self, user_id: int) -> bool:
        flood = self._flood
        bucket = flood._bucket(user_id, flood.clock())
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True
