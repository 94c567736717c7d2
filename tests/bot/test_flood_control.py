"""Per-user flood control on photos, on a fake clock."""

from __future__ import annotations

from bot.flood_control import FloodControl, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_slow_down_then_silence_until_a_token_returns():
    clock = Clock()
    flood = FloodControl(burst=3, per_minute=6, clock=clock)
    verdicts = [flood.check(1, 1, f"photo-{i}") for i in range(40)]
    assert verdicts[:3] == [Verdict.ADMIT] * 3
    assert verdicts[3] == Verdict.SLOW_DOWN
    assert set(verdicts[4:]) == {Verdict.THROTTLED}
    clock.now += 10  # 6 a minute: one photo per 10 s
    assert flood.check(1, 1, "photo-later") == Verdict.ADMIT
    assert flood.check(1, 1, "photo-later-2") == Verdict.SLOW_DOWN  # a new window, told again


def test_users_have_their_own_buckets():
    flood = FloodControl(burst=1, per_minute=1, clock=Clock())
    assert flood.check(1, 1, "a") == Verdict.ADMIT
    assert flood.check(1, 1, "b") == Verdict.SLOW_DOWN
    assert flood.check(2, 2, "c") == Verdict.ADMIT


def test_the_same_photo_in_the_same_chat_within_a_minute_is_a_duplicate():
    clock = Clock()
    flood = FloodControl(burst=10, per_minute=60, clock=clock)
    assert flood.check(1, 1, "same") == Verdict.ADMIT
    assert flood.check(1, 1, "same") == Verdict.DUPLICATE
    assert flood.check(1, -5, "same") == Verdict.ADMIT  # another chat: a new request
    clock.now += 61
    assert flood.check(1, 1, "same") == Verdict.ADMIT


def test_memory_stays_bounded():
    flood = FloodControl(burst=1, per_minute=1, clock=Clock(), max_users=100)
    for user in range(1000):
        flood.check(user, user, f"p{user}")
    assert len(flood._buckets) == 100
