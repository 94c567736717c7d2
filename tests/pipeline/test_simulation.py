"""The deterministic simulation of the job pipeline (issue 18, item 10).

The REAL storage code (storage/jobs.py on SQLite and PostgreSQL) and the REAL stages
(pipeline/stage_base.py, render_stage.py, conversion_stage.py, delivery_stage.py, template_jobs.py,
job_run.py, reconciler.py) run in a simulated world (tests/pipeline/sim_world.py): virtual time,
one clock per host, a fake Bot API and a fake engine (tests/pipeline/sim_fakes.py), a simulated
Celery broker. Every wait of a stage (a Telegram answer, an engine run, a sleep, a heartbeat, an
idle wait, a free slot) is an event on one queue; one step resolves one event (or injects one
fault, or queues one job) and then runs every task until all wait again, so one piece of stage code
runs at a time and a seed replays the same run. tests/pipeline/sim_adapter.py is the one module
that knows the storage and pipeline API. On SQLite aiosqlite's calls run in the calling task, not
on a thread (`sim_adapter._inline_sqlite`: the same statements, transactions and locks), so even two
stages runnable at once (a process starting) take their turns in one order; on PostgreSQL they
take them as the server answers, and a long walk may part from its SQLite twin at such a start.
The invariants read the jobs table on a connection of their own (`sim_adapter.Reader`), again only
after a statement changed rows.

Clocks: each host's `utcnow()` (storage.models.clock, the one seam in production code) is the true
virtual time plus that host's offset; the database's clock (`Database.now`, read by every claim,
renewal and lease comparison) is the true virtual time itself.

The world: one box (one process running every stage, `release_all_leases` at each start) or
workers (a bot host that queues jobs and runs the reconciler, three worker hosts taking renders and
conversions as broker messages and running delivery loops); 2 delivery slots and 1 conversion slot
per process; renders, grids, template imports, conversions (note, sticker, GIF) and answers from the
file_id cache. At any step: a process killed (and restarted 5-300 s later; also right after
Telegram accepted an upload, before the commit), a process paused for 30-400 s (its leases run
out), a host's clock jumping ±5 minutes, Telegram down or slow (uploads past the 300 s timeout,
accepted or not), an upload accepted whose answer is lost, an unexpected error after Telegram
took the upload, a render that kills its process (poison), an engine error, a broker message lost
or delivered twice, a /cancel.

Invariants, checked after every step (tests/pipeline/sim_runner.py, `Simulation.check` and the
effect hooks), each with its tag in a failure:
- [deadline] every job reaches a final state within its deadline (both deadlines, every attempt's
  lease, an hour of slack: `sim_adapter.longest_job`), and after the walk, with the faults
  stopped, every job ends;
- [double-send] nothing is sent twice, except after an upload whose answer was lost (or that ended
  in an unexpected error, or whose process died before recording it): those are counted
  (`Report.duplicates_excused`);
- [attempts] no job is claimed more than `max_attempts` times, nor killed its process more often;
- [lease] no job is `running` without a lease, no finished job keeps one, and no stage works on a
  job whose lease (on the database's clock) has run out, unless its process was paused;
- [effect-without-lease] a render, conversion or template import is written, and an upload is
  accepted, only by the claim that holds the job under a live lease (paused processes counted in
  `Report.effects_excused`);
- [two-holders] no job is held by two claims at once;
- [busy-poll] no idle stage runs 40 claims that find nothing within 60 s.

A failure prints the invariant, the seed, the last steps and how to re-run it:
`SIM_SEED=<seed> SIM_STEPS=<n> .venv/bin/python -m pytest -p no:cacheprovider -x -q
tests/pipeline/test_simulation.py -k random_walk` (SIM_SEED also re-runs the scenarios).

The defects of the issue's "Why" that concern the pipeline, and what fails without the fix (the
scenarios in tests/pipeline/sim_scenarios.py, run on `main` at 1e61a89 with the harness of commit
"Simulation: change-driven snapshots, violation kinds, one scenario per defect"):
- poison job loop: scenario poison-job, seed 1: [attempts] "job 6 claimed 4 times (max_attempts 3)"
  at step 413 (one box: killed, restarted, claimed again);
- double send after lease expiry: scenario delivery-outlives-lease, seed 1: [lease] "job 1: box#1's
  delivery stage works on it under a lease that ran out" at step 584 (the send outlived the
  15-minute lease, which was never renewed; the takeover and second upload follow);
- host clocks: scenario host-clocks, seed 1: [lease] "job 1: worker2#1's render stage works on it
  under a lease that ran out 180 s ago" at step 78 (a host 5 minutes behind wrote an expired lease);
- busy polling: scenario busy-polling, seed 1: [busy-poll] "the delivery stage of box ran 40 claims
  that found nothing in 57.3 s" at step 181 (a parked delivery claimed again kept its past
  next_attempt_at); the random walk's seed 1 (one box) also failed so, at step 539;
- error after Telegram accepted: scenario error-after-accepted, seeds 1 and 2: [deadline] "job 2
  still delivering 3.0 h after it was queued" (sent again every 15 minutes, no cap, no deadline);
- /cancel racing a claim (PostgreSQL): test_cancel_racing_a_claim_flags_the_job below (a claim
  commits between the cancel's read and its update; before the fix the running job was marked
  cancelled);
- id reuse (SQLite): test_ids_never_come_back below (before AUTOINCREMENT the deleted newest id
  was handed out again).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, text

from storage import Database, JobStatus, jobs, upgrade_to_head, users
from storage.models import Job
from tests.pipeline.sim_adapter import queue_render
from tests.pipeline.sim_runner import Simulation, seed_from_env, steps_from_env
from tests.pipeline.sim_scenarios import SCENARIOS
from tests.services import postgresql_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    async with postgresql_database(durable=False) as url:  # thousands of commits, none to keep
        yield url


async def _simulate(url: str, data: Path, seed: int, one_box: bool, steps: int, monkeypatch: pytest.MonkeyPatch,
                    scenario: str | None = None) -> None:
    faults = SCENARIOS[scenario].faults if scenario is not None else None
    sim = Simulation(url, data, seed, one_box, monkeypatch, faults)
    started = time.monotonic()
    await sim.start()
    try:
        report = await sim.run(steps)
    finally:
        await sim.close()
    print(f"\n{scenario or 'random walk'} ({'one box' if one_box else 'workers'}, {url.split(':')[0]}): "
          f"{report} in {time.monotonic() - started:.1f} s")
    assert report.steps >= steps
    assert report.jobs > 0 and sum(report.finals.values()) == report.jobs  # every job ended


@pytest.mark.parametrize("one_box", [True, False], ids=["one_box", "workers"])
async def test_random_walk(db_url: str, one_box: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """5,000 steps in each set-up: 10,000 per database. `SIM_STEPS` walks further."""
    await _simulate(db_url, tmp_path / "data", seed_from_env(1), one_box, steps_from_env(5000), monkeypatch)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_defect_scenario(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each defect's scenario with the seed that failed before its fix (SQLite; the random walk
    covers PostgreSQL)."""
    scenario = SCENARIOS[name]
    await _simulate(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", tmp_path / "data", seed_from_env(1),
                    scenario.one_box, steps_from_env(800), monkeypatch, name)


async def test_cancel_racing_a_claim_flags_the_job() -> None:
    """PostgreSQL: a claim commits between /cancel's read of the job and its update. The cancel
    must then flag the running job, not mark it cancelled under the stage rendering it."""
    async with postgresql_database() as url:
        db = Database(url)
        try:
            await upgrade_to_head(db)
            await users.touch(db, 100, "en")
            job_id = await queue_render(db, 100, 1000, "t1")
            async with db.engine.connect() as claimer:
                await claimer.begin()
                # The claim's update, held uncommitted: the cancel's own update must wait for it.
                await claimer.execute(text("UPDATE jobs SET status = 'running', lease_owner = 'render-b', "
                                           "attempts = attempts + 1 WHERE id = :id"), {"id": job_id})
                cancel = asyncio.create_task(jobs.request_cancel(db, 100))
                async with db.engine.connect() as watcher:
                    deadline = asyncio.get_running_loop().time() + 60
                    while not cancel.done():  # until the cancel waits on the claim's row lock
                        assert asyncio.get_running_loop().time() < deadline, "the cancel never waited on the lock"
                        waiting = await watcher.scalar(text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE jobs%'"))
                        await watcher.rollback()  # pg_stat_activity is read once per transaction
                        if waiting:
                            break
                        await asyncio.sleep(0.01)
                await claimer.commit()
            result = await cancel
            assert result is not None
            row = await jobs.get(db, job_id)
            assert row is not None
            assert row.status == JobStatus.RUNNING and row.cancel_requested
        finally:
            await db.close()


async def test_ids_never_come_back(tmp_path: Path) -> None:
    """SQLite: the newest jobs deleted (a retention clean-up, /forget), the next job must not get
    their id again (old buttons, imports named by their job)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    try:
        await upgrade_to_head(db)
        await users.touch(db, 100, "en")
        ids = [await queue_render(db, 100, 1000 + n, "t1") for n in range(3)]
        async with db.write() as session:
            await session.execute(delete(Job).where(Job.id.in_(ids[1:])))
        again = await queue_render(db, 100, 2000, "t1")
        assert again > max(ids)
    finally:
        await db.close()
