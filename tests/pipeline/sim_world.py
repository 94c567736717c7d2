"""The simulated world the real stages run in: virtual time, hosts that die, pause and have wrong
clocks, and the points where a stage waits for the world (a Telegram answer, an engine run, a
sleep, a wake-up). Each such point is a *gate*: an event on one queue ordered by virtual time. The
simulation resolves one gate per step and then lets every task run until all of them wait at a
gate again, so only one piece of stage code runs at a time and a seed replays the same run.

Nothing here knows the storage API: that is tests/pipeline/sim_adapter.py.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import random
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

T0 = datetime(2030, 1, 1)  # virtual time 0 (true time; each host adds its clock's offset)


class ProcessDied(BaseException):
    """The simulated process was killed: nothing of it runs on (no `except Exception` catches it)."""


class SimError(AssertionError):
    """An invariant broken, or the simulation stuck."""


@dataclass(eq=False)
class Host:
    index: int
    name: str
    incarnation: int = 0
    offset: float = 0.0  # its clock minus the true time, seconds
    alive: bool = True
    paused_until: float = 0.0  # SIGSTOP-like: its gates resolve no earlier than this
    paused_ever: int = -1  # the last incarnation that was paused (its leases may lapse)
    owner: str = ""
    runtime: Any = None  # what the adapter built for this incarnation (stages, ...)

    def is_live(self, incarnation: int) -> bool:
        return self.alive and self.incarnation == incarnation


@dataclass(frozen=True)
class Where:
    """The host incarnation a task belongs to (set on the tasks the simulation starts; tasks they
    start inherit it)."""

    host: Host
    incarnation: int


HERE: ContextVar[Where | None] = ContextVar("sim_here", default=None)
CLAIM: ContextVar[Any] = ContextVar("sim_claim", default=None)  # the claim the running work belongs to


@dataclass(eq=False)
class Event:
    due: float
    seq: int
    kind: str
    host: Host | None = None
    incarnation: int = 0
    future: asyncio.Future[Any] | None = None
    resolve: Callable[[], Awaitable[Any]] | None = None
    label: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    done: bool = False

    def __lt__(self, other: Event) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class World:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.t = 0.0
        self._seq = itertools.count()
        self._heap: list[Event] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.waiting: set[asyncio.Task[Any]] = set()
        self.crashed: list[tuple[str, BaseException]] = []  # tasks that ended on an unexpected error
        self.log: list[str] = []  # the last steps, printed with a failure
        self.trace: list[str] | None = None  # every step, when debugging
        self.on_kill: Callable[[Host], None] = lambda host: None  # e.g. schedule its restart
        self._owner: dict[asyncio.Future[Any], asyncio.Task[Any]] = {}  # a gate's future: who waits on it
        self._changed: asyncio.Event | None = None  # a task parked at a gate or ended

    # --- time ------------------------------------------------------------------------------------
    def true_now(self) -> datetime:
        return T0 + timedelta(seconds=self.t)

    def at(self, when: datetime) -> float:
        return (when - T0).total_seconds()

    def clock(self) -> datetime:
        """storage.models.clock: the clock of the host whose code runs (the true time elsewhere)."""
        here = HERE.get()
        return T0 + timedelta(seconds=self.t + (here.host.offset if here is not None else 0.0))

    def note(self, line: str) -> None:
        self.log.append(f"t={self.t:9.1f} {line}")
        if self.trace is not None:
            self.trace.append(self.log[-1])
        if len(self.log) > 60:
            del self.log[:20]

    # --- events ----------------------------------------------------------------------------------
    def schedule(self, due: float, kind: str, **data: Any) -> Event:
        event = Event(max(due, self.t), next(self._seq), kind, data=data)
        heapq.heappush(self._heap, event)
        return event

    def _push(self, event: Event) -> None:
        heapq.heappush(self._heap, event)

    def pop(self) -> Event | None:
        """The next event due (lazily skipping finished ones); the clock moves to it."""
        while self._heap:
            event = heapq.heappop(self._heap)
            if event.done:
                continue
            if event.host is not None and event.host.paused_until > event.due \
                    and event.host.is_live(event.incarnation):
                event.due = event.host.paused_until  # a paused process answers nothing
                event.seq = next(self._seq)
                self._push(event)
                continue
            self.t = max(self.t, event.due)
            return event
        return None

    def peek_due(self) -> float | None:
        while self._heap and self._heap[0].done:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    async def gate(self, delay: float, resolve: Callable[[], Awaitable[Any]] | None = None,
                   label: str = "") -> Any:
        """Wait (in virtual time) for `delay`, then for `resolve()` (run by the simulation, its
        value or exception returned here). A dead host's gate raises ProcessDied."""
        here = HERE.get()
        if here is None:
            raise SimError(f"a gate ({label}) outside any simulated host")
        if not here.host.is_live(here.incarnation):
            raise ProcessDied()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        event = Event(self.t + max(0.0, delay), next(self._seq), "gate", here.host, here.incarnation, future,
                      resolve, label)
        self._push(event)
        return await self._wait(future)

    async def _wait(self, future: asyncio.Future[Any]) -> Any:
        task = asyncio.current_task()
        assert task is not None
        self.waiting.add(task)
        self._owner[future] = task
        if self._changed is not None:
            self._changed.set()
        try:
            return await future
        finally:
            self._owner.pop(future, None)
            self.waiting.discard(task)

    def _settle(self, future: asyncio.Future[Any], value: Any = None, error: BaseException | None = None) -> None:
        """Resolve a gate's future; its task counts as running from now on."""
        if future.done():
            return
        task = self._owner.pop(future, None)
        if task is not None:
            self.waiting.discard(task)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def fire_now(self, event: Event, value: Any) -> None:
        """Resolve a waiting gate at the current time (a wake-up): as the next step, not inline."""
        if event.done:
            return
        event.done = True
        again = Event(self.t, next(self._seq), "gate", event.host, event.incarnation, event.future,
                      _const(value), event.label + " (woken)")
        self._push(again)

    async def run_gate(self, event: Event) -> None:
        event.done = True
        future = event.future
        assert future is not None and event.host is not None
        if future.done():
            return
        if not event.host.is_live(event.incarnation):
            self._settle(future, error=ProcessDied())
            return
        try:
            value = await event.resolve() if event.resolve is not None else None
        except BaseException as err:  # handed to the waiting stage as the outcome of its call
            self._settle(future, error=err)
            return
        self._settle(future, value)

    def kill(self, host: Host) -> None:
        """The process dies: every gate it waits at raises ProcessDied; nothing of it runs on."""
        if not host.alive:
            return
        host.alive = False
        self.on_kill(host)
        for event in self._heap:
            if not event.done and event.host is host and event.future is not None and not event.future.done():
                event.done = True
                self._settle(event.future, error=ProcessDied())

    # --- tasks ------------------------------------------------------------------------------------
    def task_factory(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                     **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        context = kwargs.get("context")
        here = context.get(HERE) if context is not None else HERE.get()
        if here is not None:
            self.tasks.add(task)
            task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if self._changed is not None:
            self._changed.set()

    def start(self, host: Host, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task of `host`'s current incarnation."""
        token = HERE.set(Where(host, host.incarnation))
        try:
            return asyncio.get_running_loop().create_task(coro, name=name)
        finally:
            HERE.reset(token)

    async def quiesce(self) -> None:
        """Run every task until each waits at a gate or has ended."""
        if self._changed is None:
            self._changed = asyncio.Event()
        await asyncio.sleep(0)
        while any(not task.done() and task not in self.waiting for task in self.tasks):
            self._changed.clear()
            try:  # until a task parks at a gate or ends (a database call takes a driver's thread or socket)
                await asyncio.wait_for(self._changed.wait(), 60.0)
            except TimeoutError:
                raise SimError("the tasks never settled (a stage waits on something the simulation cannot "
                               "see)") from None
        for task in [t for t in self.tasks if t.done()]:
            self.tasks.discard(task)
            if not task.cancelled():
                err = task.exception()
                if err is not None and not isinstance(err, ProcessDied):
                    self.crashed.append((task.get_name(), err))


def _const(value: Any) -> Callable[[], Awaitable[Any]]:
    async def resolve() -> Any:
        return value

    return resolve


# --- what the stage modules see as `asyncio` ------------------------------------------------------
WORLD: World | None = None  # the running simulation (one at a time)


def world() -> World:
    if WORLD is None:
        raise SimError("no simulation is running")
    return WORLD


class SimEvent:
    """asyncio.Event whose wait is a gate and whose set() wakes the waiter as a step of its own."""

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[Event] = []

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            world().fire_now(event, True)

    def wait(self) -> _EventWait:
        return _EventWait(self)

    async def wait_until(self, timeout: float | None) -> bool:
        if self._set:
            await asyncio.sleep(0)
            return True
        sim = world()
        here = HERE.get()
        if here is None or not here.host.is_live(here.incarnation):
            raise ProcessDied()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        due = sim.t + (timeout if timeout is not None else 10 ** 9)
        event = Event(due, next(sim._seq), "gate", here.host, here.incarnation, future, _const(False), "idle")
        sim._push(event)
        self._waiters.append(event)
        return bool(await sim._wait(future))


class _EventWait:
    def __init__(self, event: SimEvent) -> None:
        self.event = event

    def __await__(self) -> Any:
        return self.event.wait_until(None).__await__()


class SimSemaphore:
    """asyncio.Semaphore whose waits are gates."""

    def __init__(self, value: int = 1) -> None:
        self._value = value
        self._waiters: list[Event] = []

    def locked(self) -> bool:
        return self._value == 0

    async def acquire(self) -> bool:
        while self._value <= 0:
            sim = world()
            here = HERE.get()
            if here is None or not here.host.is_live(here.incarnation):
                raise ProcessDied()
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            event = Event(10.0 ** 12, next(sim._seq), "gate", here.host, here.incarnation, future, _const(True),
                          "slot")
            sim._push(event)
            self._waiters.append(event)
            await sim._wait(future)
        self._value -= 1
        return True

    def release(self) -> None:
        self._value += 1
        while self._waiters:
            event = self._waiters.pop(0)
            if not event.done:
                world().fire_now(event, True)
                break

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


async def _sleep(delay: float, result: Any = None, label: str = "sleep") -> Any:
    if delay <= 0:
        await asyncio.sleep(0)
        return result
    await world().gate(delay, None, label)
    return result


async def _to_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Inline: the fakes' blocking calls are coroutines (gates); the rest is quick file work."""
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        return await value
    return value


async def _wait_for(aw: Any, timeout: float | None) -> Any:
    if isinstance(aw, _EventWait):
        if not await aw.event.wait_until(timeout):
            raise TimeoutError()
        return True
    return await asyncio.wait_for(aw, timeout)


class AsyncioShim:
    """Stands for the `asyncio` module inside the stage modules: sleeps, waits, threads and slots
    go through the simulation; everything else is asyncio itself."""

    def __init__(self, module: str, min_sleep: float = 0.0) -> None:
        self._label = f"sleep in {module}"
        self._min_sleep = min_sleep

    async def sleep(self, delay: float, result: Any = None) -> Any:
        if delay > 0:
            delay = max(delay, self._min_sleep)
        return await _sleep(delay, result, self._label)

    to_thread = staticmethod(_to_thread)
    wait_for = staticmethod(_wait_for)
    Event = SimEvent
    Semaphore = SimSemaphore

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)
