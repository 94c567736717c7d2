"""The suite's xdist groups hold: tests marked with one `xdist_group` run on one worker (tests that
share an expensive module fixture, or must not run beside each other)."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("processes")
def test_a_grouped_test_carries_its_group_to_the_scheduler(request: pytest.FixtureRequest, worker_id: str) -> None:
    if worker_id == "master":
        pytest.skip("one process (-n 0): no workers to group tests on")
    # pytest-xdist's loadgroup scheduler reads the group from this suffix of the node id
    assert request.node.nodeid.endswith("@processes"), request.node.nodeid
