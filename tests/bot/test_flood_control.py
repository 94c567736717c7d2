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


def test_an_album_pays_a_token_per_photo_and_owes_what_the_bucket_lacks():
    clock = Clock()
    flood = FloodControl(burst=3, per_minute=6, clock=clock)
    verdict, new = flood.check_album(1, 1, [f"album-{i}" for i in range(5)])
    assert verdict == Verdict.ADMIT and new == [f"album-{i}" for i in range(5)]  # admitted: a token was there
    assert flood.check(1, 1, "next") == Verdict.SLOW_DOWN  # 3 - 5 = -2 tokens: owed
    clock.now += 5  # half a token back: still owing
    assert flood.check(1, 1, "next") == Verdict.THROTTLED
    clock.now += 20
    assert flood.check(1, 1, "next") == Verdict.SLOW_DOWN  # 0.5 tokens: a new window, told again
    clock.now += 5
    assert flood.check(1, 1, "next") == Verdict.ADMIT  # 30 s: as if the five had come one by one


def test_an_album_leaves_out_photos_seen_in_the_chat_and_is_dropped_when_all_were():
    flood = FloodControl(burst=10, per_minute=60, clock=Clock())
    assert flood.check(1, 1, "seen") == Verdict.ADMIT
    assert flood.check_album(1, 1, ["seen", "new", "new"]) == (Verdict.ADMIT, ["new"])
    assert flood.check_album(1, 1, ["seen", "new"]) == (Verdict.DUPLICATE, [])


def test_presses_are_limited_per_user():
    from bot.flood_control import PressLimit

    clock = Clock()
    presses = PressLimit(burst=2, per_minute=6, clock=clock)
    assert [presses.allow(1) for _ in range(3)] == [True, True, False]
    assert presses.allow(2)  # another user's own bucket
    clock.now += 10
    assert presses.allow(1) and not presses.allow(1)
