"""Fault mixes that aim the simulation at one defect of issue 18 each (the random walk mixes
them all). Each names the invariant that caught the defect before the state machine's rewrite."""

from __future__ import annotations

from dataclasses import dataclass

from tests.pipeline.sim_runner import Faults

QUIET = dict(death=0.0, pause=0.0, clock_jump=0.0, telegram_down=0.0, telegram_slow=0.0, broker=0.0, cancel=0.0,
             poison=0.0, cursed=0.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    one_box: bool
    faults: Faults
    caught_by: str  # the invariant that failed on main (before the fix)


SCENARIOS = {
    s.name: s for s in (
        # A photo whose render kills the process, re-claimed at every restart.
        Scenario("poison-job", True, Faults(**{**QUIET, "poison": 0.5}), "attempts"),
        # Uploads slower than the delivery lease: another slot takes the job over and sends it again.
        Scenario("delivery-outlives-lease", True, Faults(**{**QUIET, "telegram_slow": 0.05}), "lease"),
        # Hosts' clocks minutes apart: leases written by one host look expired (or live) to another.
        Scenario("host-clocks", False, Faults(**{**QUIET, "clock_jump": 0.05}), "lease"),
        # Telegram away: parked deliveries, claimed again, keep their past next_attempt_at.
        Scenario("busy-polling", True, Faults(**{**QUIET, "telegram_down": 0.03}), "busy-poll"),
        # Every upload of a job ends in an unexpected error after Telegram took it.
        Scenario("error-after-accepted", True, Faults(**{**QUIET, "cursed": 0.5}), "deadline"),
    )
}
