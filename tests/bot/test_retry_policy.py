"""The retry arithmetic and the Telegram call wrapper (fast: a fake clock or the fake server)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import telegram

from pipeline.retry_policy import RetryPolicy, retry_time
from pipeline.telegram_calls import TelegramRefused, TelegramUnavailable, call_with_retries
from tests.fake_telegram import FakeTelegram

NOW = datetime(2026, 11, 27, 12, 0, 0)
FAST = RetryPolicy(immediate_attempts=3, immediate_base_s=0.01, retry_after_cap_s=1.0)


def test_immediate_pauses_double():
    policy = RetryPolicy(immediate_base_s=1.0)
    assert [policy.immediate_delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_parked_pauses_grow_exponentially_to_the_cap():
    policy = RetryPolicy(park_base_s=30.0, park_cap_s=900.0)
    assert [policy.park_delay(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]


def test_retry_time_stops_at_the_deadline_and_honours_retry_after():
    policy = RetryPolicy(park_base_s=30.0, park_cap_s=900.0)
    deadline = NOW + timedelta(hours=24)
    assert retry_time(policy, 1, NOW, deadline) == NOW + timedelta(seconds=30)
    assert retry_time(policy, 1, NOW, deadline, retry_after_s=300) == NOW + timedelta(seconds=300)
    assert retry_time(policy, 10, deadline - timedelta(minutes=10), deadline) is None  # 15 min > 10 left
    assert retry_time(policy, 1, deadline, deadline) is None


@pytest.fixture
async def bot():
    async with FakeTelegram(token="1:T") as tg, telegram.Bot(tg.token, base_url=tg.base_url) as b:
        yield tg, b


async def test_blips_are_retried_at_once_and_outages_become_unavailable(bot):
    tg, b = bot
    user = tg.user()
    dm = tg.private_chat(user)
    tg.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=2)
    message = await call_with_retries(lambda: b.send_message(dm["id"], "hi"), FAST, "test")
    assert message.text == "hi"
    tg.start_outage(502)
    with pytest.raises(TelegramUnavailable, match="network after 3 tries") as parked:
        await call_with_retries(lambda: b.send_message(dm["id"], "hi"), FAST, "test")
    assert parked.value.retry_after_s is None


async def test_a_long_flood_wait_parks_and_a_short_one_is_waited_out(bot):
    tg, b = bot
    dm = tg.private_chat(tg.user())
    tg.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 1", retry_after=1)
    await call_with_retries(lambda: b.send_message(dm["id"], "hi"), FAST, "test")  # 1 s <= cap: waited
    tg.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 30", retry_after=30)
    with pytest.raises(TelegramUnavailable) as parked:
        await call_with_retries(lambda: b.send_message(dm["id"], "hi"), FAST, "test")
    assert parked.value.retry_after_s == 30


async def test_blocked_and_bad_requests_are_final_and_migrations_followed(bot):
    tg, b = bot
    user = tg.user()
    dm = tg.private_chat(user)
    tg.block_bot(user)
    with pytest.raises(TelegramRefused) as blocked:
        await call_with_retries(lambda: b.send_message(dm["id"], "hi"), FAST, "test")
    assert blocked.value.forbidden
    with pytest.raises(TelegramRefused) as bad:
        await call_with_retries(lambda: b.send_message(123456789, "hi"), FAST, "test")  # chat not found
    assert not bad.value.forbidden
    grp = tg.group_chat()
    tg.migrate_chat(grp["id"], -1001234)
    target = {"chat": grp["id"]}

    async def moved(new_id: int) -> None:
        target["chat"] = new_id

    sent = await call_with_retries(lambda: b.send_message(target["chat"], "hi"), FAST, "test", moved)
    assert sent.chat.id == -1001234
