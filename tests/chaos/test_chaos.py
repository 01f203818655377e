"""The chaos test, short form: real bot processes, every fault, SIGKILLs; 100% must converge."""

from __future__ import annotations

import pytest

from recorder.chaos import FAULTS, run_chaos


@pytest.mark.timeout(240)
def test_every_run_converges(chaos_size: dict[str, float]) -> None:
    report = run_chaos(
        int(chaos_size["seed"]), int(chaos_size["runs"]), duration_s=chaos_size["seconds"]
    )
    print(report.summary())
    assert report.convergence == 1.0, report.summary()  # the summary names the failed seeds
    assert report.kills > 0 and report.faults > report.kills


def test_the_harness_injects_every_fault_of_the_simulator_api() -> None:
    from recorder.sim.server import SimServer

    api = {"drop_next", "drop_ack", "drop_after_ack", "drop_requests", "drop_market",
           "duplicate_next", "delay", "disconnect", "restart", "send_garbage"}  # fmt: skip
    assert all(callable(getattr(SimServer, name)) for name in api)
    assert set(FAULTS) == api | {"kill"}
