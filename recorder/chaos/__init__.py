"""Chaos testing: bot processes trade against the simulator under faults and SIGKILLs.

:func:`~recorder.chaos.harness.run_chaos` runs it (``recorder chaos``, ``tests/chaos/``);
:mod:`recorder.chaos.bot` is the bot process.
"""

from recorder.chaos.harness import FAULTS, ChaosReport, RunResult, run_chaos

__all__ = ["FAULTS", "ChaosReport", "RunResult", "run_chaos"]
