"""The simulation: hosts running the real stages on one real database, jobs arriving, faults at
any step, and the invariants checked after every step (see test_simulation.py for the list).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from engine import OutputKind
from settings import LimitsSettings, Settings, StorageSettings, TelegramSettings, TemplatesSettings
from storage import Database, upgrade_to_head, users
from tests.pipeline import sim_adapter as adapter
from tests.pipeline import sim_world
from tests.pipeline.sim_fakes import FakeBot, FakeEngine, Telegram
from tests.pipeline.sim_world import CLAIM, HERE, Event, Host, ProcessDied, SimError, Where, World

USERS = range(100, 140)
_NO_CHANGE = ("SELECT", "BEGIN", "COMMIT", "ROLLBACK")  # statements that change no rows
TEMPLATE = "t1"


@dataclass(eq=False)
class ClaimRecord:
    host: Host
    incarnation: int
    stage: str
    job_id: int
    key: Any
    at: float
    ended: bool = False
    paused: bool = False  # its host was paused while it held the job: its lease may lapse


@dataclass(eq=False)
class SimJob:
    id: int
    key: int  # the message it answers: how an upload is told apart
    kind: str
    created: float
    poison: bool = False
    cursed: bool = False
    sends: list[tuple[str, ClaimRecord | None]] = field(default_factory=list)
    crash_claims: int = 0  # claims that ended with their process's death
    final: bool = False


@dataclass
class Faults:
    """How often each thing happens, per step (the rest of the steps let the next event happen)."""

    arrival: float = 0.05
    death: float = 0.006
    pause: float = 0.004
    clock_jump: float = 0.006
    telegram_down: float = 0.004
    telegram_slow: float = 0.004
    broker: float = 0.01
    cancel: float = 0.004
    poison: float = 0.04  # of renders
    cursed: float = 0.03  # of jobs


@dataclass
class Report:
    seed: int
    steps: int = 0
    events: int = 0
    jobs: int = 0
    finals: collections.Counter[str] = field(default_factory=collections.Counter)
    duplicates_excused: int = 0  # a video sent twice where the first answer was lost (or the sender died)
    effects_excused: int = 0  # work done after a pause let the lease lapse
    deaths: int = 0
    claims: int = 0
    virtual_hours: float = 0.0


class HostDb:
    """A process's own view of the database: gone when the process dies."""

    def __init__(self, db: Database, host: Host, incarnation: int) -> None:
        self._db, self._host, self._incarnation = db, host, incarnation

    def _check(self) -> None:
        if not self._host.is_live(self._incarnation):
            raise ProcessDied()

    def read(self) -> Any:
        self._check()
        return self._db.read()

    def write(self) -> Any:
        self._check()
        return self._db.write()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class Dispatch:
    """The Celery dispatcher as the stages see it: a message per job on the simulated broker."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    def render(self, job_id: int, at: datetime | None = None) -> None:
        self.sim.publish("render", job_id, at)

    def convert(self, job_id: int, at: datetime | None = None) -> None:
        self.sim.publish("conversion", job_id, at)

    def deliver(self) -> None:
        pass


class Simulation:
    def __init__(self, url: str, data_dir: Path, seed: int, one_box: bool, monkeypatch: pytest.MonkeyPatch,
                 faults: Faults | None = None, workers: int = 3) -> None:
        self.url, self.data_dir, self.seed, self.one_box = url, data_dir, seed, one_box
        self.monkeypatch = monkeypatch
        self.faults = faults or Faults()
        self.world = World(seed)
        self.rng = self.world.rng
        self.world.on_kill = self.on_kill
        self.telegram = Telegram()
        self.bot = FakeBot(self.world, self.telegram, self)
        self.engine = FakeEngine(self.world, self)
        self.settings = Settings(
            storage=StorageSettings(url=url, data_dir=data_dir),
            templates=TemplatesSettings(dir=data_dir / "templates"),
            telegram=TelegramSettings(upload_timeout=300.0),
            limits=LimitsSettings(delivery_deadline_hours=1.0, max_attempts=3, deliveries_at_once=2,
                                  conversions_at_once=1))
        self.tuning = adapter.tuning()
        self.max_attempts = self.settings.limits.max_attempts
        self.budget = adapter.longest_job(self.settings)
        self.report = Report(seed)
        self.hosts: list[Host] = []
        self.jobs: dict[int, SimJob] = {}
        self.by_key: dict[int, SimJob] = {}
        self.claims: list[ClaimRecord] = []
        self.empty_claims: dict[tuple[int, int, str], collections.deque[float]] = {}
        self.dispatch = Dispatch(self)
        self.db: Database | None = None
        self.reader: adapter.Reader | None = None
        self.violations: list[str] = []
        self._next_key = 1000
        self.calm = False
        self.step = 0
        self.labels: collections.Counter[str] = collections.Counter()
        self.kinds: collections.Counter[str] = collections.Counter()  # violations by invariant
        self.keep_going = False  # exploring: record every violation, stop at none
        self._rows: dict[int, adapter.Row] = {}
        self.changes = 0
        self._seen_changes, self._seen_ids = -1, list[int]()

    # --- set-up -------------------------------------------------------------------------------------
    async def start(self) -> None:
        sim_world.WORLD = self.world
        asyncio.get_running_loop().set_task_factory(self.world.task_factory)  # type: ignore[arg-type]
        adapter.install(self.monkeypatch, self.world, self.engine)
        folder = self.data_dir / "templates" / TEMPLATE
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "template.toml").write_text('title = "T"\nvideo = "video.mp4"\n', encoding="utf-8")
        (folder / "video.mp4").write_bytes(b"simulated template")
        self.db = Database(self.url)
        sa_event.listen(self.db.engine.sync_engine, "after_cursor_execute", self._count_change)
        await upgrade_to_head(self.db)
        await adapter.set_db_clock(self.db, self.world.true_now())
        await adapter.prepare_db(self.db)
        self.reader = adapter.Reader(self.db)
        await self.reader.open()
        for user in USERS:
            await users.touch(self.db, user, "en")
        count = 1 if self.one_box else 1 + 3
        self.hosts = [Host(i, "box" if self.one_box else ("bot" if i == 0 else f"worker{i}")) for i in range(count)]
        for host in self.hosts:
            if self.one_box or host.index > 0:
                await self.boot(host)
        if not self.one_box:
            self.world.schedule(60.0, "reconcile")

    async def close(self) -> None:
        self.world.on_kill = lambda host: None  # the end of the run, not a death to count
        for host in self.hosts:
            if host.alive:
                self.world.kill(host)
        await self.world.quiesce()
        asyncio.get_running_loop().set_task_factory(None)
        sim_world.WORLD = None
        if self.reader is not None:
            await self.reader.close()
        if self.db is not None:
            await self.db.close()

    def _count_change(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                      executemany: bool) -> None:
        """Rows changed: the invariants read the table again at the next check. (A BEGIN, COMMIT or
        ROLLBACK changes none; a DML statement whose driver cannot tell, rowcount -1, counts.)"""
        if (cursor.rowcount or 0) != 0 and not statement.lstrip()[:8].upper().startswith(_NO_CHANGE):
            self.changes += 1

    def here(self, host: Host) -> Any:
        return HERE.set(Where(host, host.incarnation))

    async def as_host(self, host: Host, coro: Any) -> Any:
        """Run `coro` as code of `host` (its clock, its death), to the end."""
        task = self.world.start(host, coro, f"{host.name}-call")
        await self.world.quiesce()
        if not task.done():
            raise SimError(f"a call on {host.name} waits at a gate")
        return task.result()

    async def boot(self, host: Host) -> None:
        assert self.db is not None
        host.incarnation += 1
        host.alive = True
        host.owner = f"{host.name}#{host.incarnation}"
        db = HostDb(self.db, host, host.incarnation)
        await self.as_host(host, adapter.on_start(db, self.one_box, self.settings))  # type: ignore[arg-type]
        redispatch = None if self.one_box else self.publish_from_worker
        host.runtime = adapter.build_stages(self.bot, db, self.engine, self.settings, self.tuning,  # type: ignore[arg-type]
                                            host.owner, self.on_claim, self.run_claimed, redispatch)
        token = self.here(host)
        try:
            adapter.start_loops(host.runtime, self.one_box)
        finally:
            HERE.reset(token)
        await self.world.quiesce()
        self.world.note(f"{host.name} started ({host.owner})")

    def bot_host(self) -> Host:
        return self.hosts[0]

    # --- hooks the stages call --------------------------------------------------------------------
    def on_claim(self, stage: Any, name: str, job: Any, job_id: int | None) -> ClaimRecord | None:
        here = HERE.get()
        assert here is not None
        if job is None:
            key = (here.host.index, here.incarnation, name)
            times = self.empty_claims.setdefault(key, collections.deque(maxlen=40))
            times.append(self.world.t)
            if len(times) == times.maxlen and self.world.t - times[0] < 60.0:
                self.violate(f"busy polling: the {name} stage of {here.host.name} ran {times.maxlen} claims "
                             f"that found nothing in {self.world.t - times[0]:.1f} s", kind="busy-poll")
            return None
        self.report.claims += 1
        record = ClaimRecord(here.host, here.incarnation, name, adapter.claimed_id(job), adapter.claim_key(stage, job),
                             self.world.t, paused=here.host.paused_until > self.world.t)
        self.claims.append(record)
        self.world.note(f"{here.host.name} {name} claims job {record.job_id}")
        return record

    async def run_claimed(self, record: ClaimRecord | None, work: Any) -> None:
        token = CLAIM.set(record)
        try:
            await work()
        except ProcessDied:
            if record is not None and record.stage != "delivery":
                job = self.jobs.get(record.job_id)
                if job is not None:
                    job.crash_claims += 1
            raise
        finally:
            CLAIM.reset(token)
            if record is not None:
                record.ended = True

    async def _holds(self, what: str, job_id: int, claim: ClaimRecord | None) -> bool:
        """Whether the work of `claim` holds job `job_id` under a live lease now; a violation if not
        (unless a pause let its lease lapse: then counted)."""
        assert self.db is not None
        assert self.reader is not None
        row = (await self.reader.rows([job_id])).get(job_id)
        if claim is None:
            self.violate(f"job {job_id}: {what} outside any claim", kind="effect-without-lease")
            return False
        live = row is not None and row.holder == claim.key and not row.finished and row.lease_until is not None \
            and self.world.at(row.lease_until) >= self.world.t
        if live:
            return True
        if claim.paused:
            self.report.effects_excused += 1
            return False
        self.violate(f"job {job_id}: {what} by {claim.host.name}#{claim.incarnation}'s {claim.stage} stage, which "
                     f"no longer holds it under a live lease (row: {row})", kind="effect-without-lease")
        return False

    async def output(self, what: str, job_id: int, claim: Any) -> None:
        await self._holds(f"{what} written", job_id, claim)

    async def accepted(self, job_key: int, how: str, claim: Any) -> None:
        job = self.by_key.get(job_key)
        if job is None:
            self.violate(f"an upload for no job (message {job_key})", kind="other")
            return
        await self._holds(f"upload accepted ({how})", job.id, claim)
        earlier = list(job.sends)
        job.sends.append((how, claim))
        self.world.note(f"job {job.id}: upload accepted ({how})")
        if earlier:
            clean = [c for h, c in earlier if h == "clean" and not (c is not None and c.paused)]
            if clean:
                self.violate(f"job {job.id} sent {len(job.sends)} times; an earlier send was answered "
                             f"({[h for h, _ in job.sends]})", kind="double-send")
            else:
                self.report.duplicates_excused += 1

    def poison(self, job_id: int) -> bool:
        job = self.jobs.get(job_id)
        return job is not None and job.poison

    def cursed(self, job_key: int) -> bool:
        job = self.by_key.get(job_key)
        return job is not None and job.cursed

    # --- the broker -----------------------------------------------------------------------------------
    def publish(self, stage: str, job_id: int, at: datetime | None = None, *, lossy: bool = True) -> None:
        if self.one_box:
            host = self.hosts[0]
            if host.alive and host.runtime is not None:
                getattr(host.runtime, stage).wake()
            return
        due = self.world.t if at is None else max(self.world.t, self.world.at(at) - self._offset_here())
        if lossy and not self.calm and self.rng.random() < self.faults.broker:
            self.world.note(f"broker: message for job {job_id} lost")
            return
        self.world.schedule(due, "message", stage=stage, job_id=job_id)
        if lossy and not self.calm and self.rng.random() < self.faults.broker:
            self.world.note(f"broker: message for job {job_id} delivered twice")
            self.world.schedule(due + self.rng.uniform(0, 5), "message", stage=stage, job_id=job_id)

    def _offset_here(self) -> float:
        here = HERE.get()
        return here.host.offset if here is not None else 0.0

    def publish_from_worker(self, stage: str, job_id: int, at: datetime | None) -> None:
        self.publish(stage, job_id, at)

    def deliver_message(self, event: Event) -> None:
        stage, job_id = event.data["stage"], event.data["job_id"]
        workers = [h for h in self.hosts[1:] if h.alive and h.paused_until <= self.world.t]  # a paused one takes none
        if not workers:
            self.world.schedule(self.world.t + 30.0, "message", stage=stage, job_id=job_id)
            return
        host = self.rng.choice(workers)

        async def task() -> None:
            try:
                wait = await adapter.run_dispatched(host.runtime, stage, job_id)
            except ProcessDied:  # late acks: the broker gives the message to another worker
                self.world.schedule(self.world.t + 1.0, "message", stage=stage, job_id=job_id)
                raise
            if wait is not None:  # Celery's retry(countdown=wait)
                self.world.schedule(self.world.t + wait, "message", stage=stage, job_id=job_id)

        self.world.start(host, task(), f"{host.name}-task-{job_id}")

    # --- steps ------------------------------------------------------------------------------------------
    def violate(self, message: str, kind: str = "other") -> None:
        self.kinds[kind] += 1
        if self.keep_going and self.violations:
            return
        self.violations.append(f"[{kind}] step {self.step}, t={self.world.t:.1f}s: {message}")

    def fail_report(self) -> str:
        lines = "\n".join(self.world.log[-25:])
        return (f"{self.violations[0]}\n(and {len(self.violations) - 1} more)\n"
                f"seed {self.seed}, {'one box' if self.one_box else 'workers'}, {self.url.split(':')[0]}; "
                f"re-run: SIM_SEED={self.seed} .venv/bin/python -m pytest -p no:cacheprovider -x -q "
                f"tests/pipeline/test_simulation.py -k random_walk\nlast steps:\n{lines}")

    async def run(self, steps: int) -> Report:
        gc.freeze()  # what exists now (the session's modules, ...) is not scanned again by each full collection
        try:
            for self.step in range(steps):
                await self.one_step()
                if self.violations and not self.keep_going:
                    raise SimError(self.fail_report())
            await self.settle()
        finally:
            gc.unfreeze()
        if self.violations and not self.keep_going:
            raise SimError(self.fail_report())
        self.report.steps = self.step + 1
        self.report.virtual_hours = self.world.t / 3600
        return self.report

    async def settle(self) -> None:
        """No more faults or jobs: every job must end before its deadline."""
        self.calm = True
        self.telegram.down_until = self.telegram.slow_until = 0.0
        for host in self.hosts:
            host.paused_until = 0.0
        latest = max((j.created for j in self.jobs.values()), default=self.world.t)
        while any(not j.final for j in self.jobs.values()):
            self.step += 1
            if self.world.t > latest + self.budget + 60:
                open_jobs = [j.id for j in self.jobs.values() if not j.final]
                self.violate(f"jobs {open_jobs} never ended", kind="deadline")
                return
            await self.next_event()
            await self.check()
            if self.violations and not self.keep_going:
                return

    async def one_step(self) -> None:
        f, r = self.faults, self.rng.random()
        for chance, action in ((f.arrival, self.arrive), (f.death, self.kill_one), (f.pause, self.pause_one),
                               (f.clock_jump, self.jump_clock), (f.telegram_down, self.telegram_outage),
                               (f.telegram_slow, self.telegram_slowness), (f.cancel, self.cancel_one)):
            if r < chance:
                await action()
                await self.world.quiesce()
                await self.check()
                return
            r -= chance
        await self.next_event()
        await self.check()

    async def next_event(self) -> None:
        event = self.world.pop()
        if event is None:
            self.violate("nothing left to happen: every stage stopped", kind="stuck")
            raise SimError(self.fail_report())
        await adapter.set_db_clock(self.db, self.world.true_now())  # type: ignore[arg-type]
        self.report.events += 1
        self.labels[event.label or event.kind] += 1
        if self.world.trace is not None:
            self.world.note(f"event {event.kind} {event.label} {event.host.name if event.host else ''}")
        if event.kind == "gate":
            if self.world.trace is not None:
                self.world.note(f"gate {event.label} of {event.host.name if event.host else ''}#{event.incarnation}")
            await self.world.run_gate(event)
        elif event.kind == "message":
            self.deliver_message(event)
        elif event.kind == "restart":
            host = event.data["host"]
            if not host.alive:
                await self.boot(host)
        elif event.kind == "reconcile":
            bot = self.bot_host()
            assert self.db is not None
            await self.as_host(bot, adapter.reconcile(HostDb(self.db, bot, bot.incarnation), self.dispatch,
                                                      self.tuning.stuck_after))
            self.world.schedule(self.world.t + self.tuning.reconcile_every.total_seconds(), "reconcile")
        await self.world.quiesce()

    # --- faults and arrivals ------------------------------------------------------------------------------
    async def arrive(self) -> None:
        bot = self.bot_host()
        active = sum(1 for j in self.jobs.values() if not j.final)
        if not bot.alive or active >= (6 if self.one_box else 12):
            return
        assert self.db is not None
        db = HostDb(self.db, bot, bot.incarnation)
        self._next_key += 10
        key, user = self._next_key, self.rng.choice(USERS)
        r = self.rng.random()
        kind, job_id = "render", None
        if r < 0.25:
            done = await adapter.delivered_renders(self.db)
            if done:
                parent, _ = self.rng.choice(done)
                if r < 0.15:
                    kind = "convert"
                    output = self.rng.choice([OutputKind.NOTE, OutputKind.STICKER, OutputKind.GIF])
                    job_id = await self.as_host(bot, adapter.queue_conversion(db, user, key, parent, output))  # type: ignore[arg-type]
                else:
                    kind = "cached"
                    job_id = await self.as_host(bot, adapter.queue_cached(db, user, key, parent))  # type: ignore[arg-type]
        elif r < 0.40:
            kind = "grid"
            job_id = await self.as_host(bot, adapter.queue_grid(db, user, key, TEMPLATE, self.rng.randint(2, 4)))  # type: ignore[arg-type]
        elif r < 0.46:
            kind = "template"
            job_id = await self.as_host(bot, adapter.queue_template_import(db, user, key))  # type: ignore[arg-type]
        if job_id is None:
            kind = "render"
            job_id = await self.as_host(bot, adapter.queue_render(db, user, key, TEMPLATE))  # type: ignore[arg-type]
        job = SimJob(job_id, key, kind, self.world.t,
                     poison=kind in ("render", "grid") and self.rng.random() < self.faults.poison,
                     cursed=self.rng.random() < self.faults.cursed)
        self.jobs[job_id] = job
        self.by_key[key] = job
        self.report.jobs += 1
        self.world.note(f"job {job_id} queued ({kind}{', poison' if job.poison else ''}"
                        f"{', cursed' if job.cursed else ''})")
        if kind == "convert":
            self.publish("conversion", job_id, lossy=True)
        elif kind == "cached":
            for host in self.hosts:
                if host.alive and host.runtime is not None:
                    host.runtime.delivery.wake()
        else:
            self.publish("render", job_id, lossy=True)

    def _candidates(self) -> list[Host]:
        return [h for h in self.hosts if h.alive and h.runtime is not None]

    async def kill_one(self) -> None:
        hosts = self._candidates()
        if not hosts:
            return
        host = self.rng.choice(hosts)
        self.world.note(f"{host.name} killed")
        self.world.kill(host)
        await self.world.quiesce()

    def on_kill(self, host: Host) -> None:
        self.report.deaths += 1
        self.world.note(f"{host.name}#{host.incarnation} died")
        self.world.schedule(self.world.t + self.rng.uniform(5.0, 300.0), "restart", host=host)

    async def pause_one(self) -> None:
        hosts = self._candidates()
        if not hosts:
            return
        host = self.rng.choice(hosts)
        host.paused_until = self.world.t + self.rng.uniform(30.0, 400.0)
        for record in self.claims:
            if record.host is host and not record.ended:
                record.paused = True
        self.world.note(f"{host.name} paused until {host.paused_until:.0f}")

    async def jump_clock(self) -> None:
        host = self.rng.choice(self.hosts)
        host.offset = max(-300.0, min(300.0, host.offset + self.rng.choice([-300.0, 300.0])))
        self.world.note(f"{host.name}'s clock now {host.offset:+.0f}s")

    async def telegram_outage(self) -> None:
        self.telegram.down_until = self.world.t + self.rng.uniform(30.0, 1200.0)
        self.world.note(f"Telegram down until {self.telegram.down_until:.0f}")

    async def telegram_slowness(self) -> None:
        self.telegram.slow_until = self.world.t + self.rng.uniform(60.0, 1800.0)
        self.world.note(f"Telegram slow until {self.telegram.slow_until:.0f}")

    async def cancel_one(self) -> None:
        bot = self.bot_host()
        open_jobs = [j for j in self.jobs.values() if not j.final]
        if not open_jobs or not bot.alive:
            return
        assert self.db is not None
        job = self.rng.choice(open_jobs)
        assert self.reader is not None
        row = (await self.reader.rows([job.id])).get(job.id)
        if row is None:
            return
        user = await adapter.job_user(self.db, job.id)
        cancelled = await self.as_host(bot, adapter.cancel(HostDb(self.db, bot, bot.incarnation), user))  # type: ignore[arg-type]
        if cancelled is not None and self.one_box:
            token = self.here(bot)
            try:
                adapter.cancel_here(bot.runtime, cancelled)
            finally:
                HERE.reset(token)
        self.world.note(f"/cancel by user {user}: job {cancelled}")

    # --- invariants --------------------------------------------------------------------------------------
    async def check(self) -> None:
        assert self.db is not None
        watched = [j.id for j in self.jobs.values() if not j.final]
        if not watched:
            return
        if self.changes != self._seen_changes or watched != self._seen_ids:
            assert self.reader is not None
            self._rows = await self.reader.rows(watched)
            self._seen_changes, self._seen_ids = self.changes, watched
        rows = self._rows
        now = self.world.t
        for job_id in watched:
            job, row = self.jobs[job_id], rows.get(job_id)
            if row is None:
                self.violate(f"job {job_id} vanished", kind="other")
                continue
            if row.attempts > self.max_attempts:
                self.violate(f"job {job_id} claimed {row.attempts} times (max_attempts {self.max_attempts})",
                             kind="attempts")
            if job.crash_claims > self.max_attempts:
                self.violate(f"job {job_id}: {job.crash_claims} claims ended with their process's death "
                             f"(max_attempts {self.max_attempts})", kind="attempts")
            if row.status == "running" and (row.holder is None or row.lease_until is None):
                self.violate(f"job {job_id} running without a lease", kind="lease")
            if row.finished:
                job.final = True
                self.report.finals[row.status] += 1
                if row.holder is not None or row.lease_until is not None:
                    self.violate(f"job {job_id} {row.status} but still leased", kind="lease")
            elif now > job.created + self.budget:
                self.violate(f"job {job_id} still {row.status} {(now - job.created) / 3600:.1f} h after it was "
                             f"queued (every job ends within {self.budget / 3600:.1f} h)", kind="deadline")
        holders: dict[int, list[ClaimRecord]] = collections.defaultdict(list)
        for record in self.claims:
            if record.ended or not record.host.is_live(record.incarnation):
                record.ended = True
                continue
            row = rows.get(record.job_id)
            if row is None or row.finished or row.holder != record.key:
                continue
            holders[record.job_id].append(record)
            if record.paused or record.host.paused_until > now:
                continue
            if row.lease_until is not None and self.world.at(row.lease_until) < now:
                self.violate(f"job {record.job_id}: {record.host.name}#{record.incarnation}'s {record.stage} stage "
                             f"works on it under a lease that ran out {now - self.world.at(row.lease_until):.0f} s "
                             f"ago", kind="lease")
        self.claims = [r for r in self.claims if not r.ended]
        for job_id, records in holders.items():
            if len(records) > 1:
                self.violate(f"job {job_id} held by {len(records)} claims at once: "
                             f"{[(r.host.name, r.incarnation, r.stage) for r in records]}", kind="two-holders")


def seed_from_env(default: int) -> int:
    value = os.environ.get("SIM_SEED")
    return int(value) if value else default


def steps_from_env(default: int) -> int:
    value = os.environ.get("SIM_STEPS")
    return int(value) if value else default


def hours(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
