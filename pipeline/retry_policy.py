"""When to try a Telegram call again: the arithmetic only (no Telegram, no clock of its own).

Two levels. A few immediate retries ride out a blip (a dropped connection, one 502) inside the
same attempt. Past those, the job is parked: put back with a `next_attempt_at` that grows
exponentially up to a cap, until a deadline; an outage of minutes or hours then costs nothing but
a wait, and the stage is free for other chats meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    immediate_attempts: int = 3  # tries inside one attempt (the first included)
    immediate_base_s: float = 1.0  # pause after the first failure; doubles
    retry_after_cap_s: float = 60.0  # a flood wait up to this is waited out; longer ones park the job
    park_base_s: float = 30.0  # first parked pause; doubles per parked try
    park_cap_s: float = 900.0  # longest parked pause (15 min)

    def immediate_delay(self, failures: int) -> float:
        """Pause after the `failures`-th failure within one attempt (1-based)."""
        return float(self.immediate_base_s * 2.0 ** (failures - 1))

    def park_delay(self, parked_tries: int) -> float:
        """Pause before parked try number `parked_tries` + 1 (parked_tries >= 1)."""
        return float(min(self.park_cap_s, self.park_base_s * 2.0 ** max(0, parked_tries - 1)))


def retry_time(policy: RetryPolicy, parked_tries: int, now: datetime, deadline: datetime,
               retry_after_s: float | None = None) -> datetime | None:
    """When to try again, or None when that would be past the deadline (the job fails then).
    Telegram's own retry_after, when it gave one, wins over the backoff."""
    delay = retry_after_s if retry_after_s is not None else policy.park_delay(parked_tries)
    at = now + timedelta(seconds=delay)
    return at if at <= deadline else None
