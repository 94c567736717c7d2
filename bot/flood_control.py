"""Per-user flood control before any download: a token bucket on photos, one "slow down" per
window, and duplicates dropped. Plain logic with an injected clock (no Telegram, no asyncio).

One user sending 40 photos in 10 s gets the burst (3 by default) answered and one polite
"slow down"; the rest are dropped before anything is downloaded or decoded, so everyone else is
answered at once. The same photo forwarded twice within a minute counts once.
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
        now = self.clock()
        self._forget_old(now)
        key = (chat_id, file_unique_id)
        if key in self._seen:
            return Verdict.DUPLICATE
        bucket = self._bucket(user_id, now)
        if bucket.tokens < 1.0:
            if now - bucket.told_at >= self.window_s:
                bucket.told_at = now
                return Verdict.SLOW_DOWN
            return Verdict.THROTTLED
        bucket.tokens -= 1.0
        self._seen[key] = now
        return Verdict.ADMIT

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
