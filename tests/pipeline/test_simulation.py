"""The deterministic simulation of the job pipeline (issue 18, item 10).

Draft: the random walk only; the docstring is completed below.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pipeline.sim_runner import Simulation, seed_from_env, steps_from_env
from tests.services import postgresql_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    async with postgresql_database() as url:
        yield url


@pytest.mark.parametrize("one_box", [True, False], ids=["one_box", "workers"])
async def test_random_walk(db_url: str, one_box: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = seed_from_env(1)
    sim = Simulation(db_url, tmp_path / "data", seed, one_box, monkeypatch)
    started = time.monotonic()
    await sim.start()
    try:
        report = await sim.run(steps_from_env(5000))
    finally:
        await sim.close()
    print(report, f"{time.monotonic() - started:.1f}s", sim.labels)
    assert report.steps >= 5000
