"""``recorder chaos``: the long form of the chaos test (tests/chaos/ runs the short one)."""

from __future__ import annotations

import json
import sys

import click

from recorder.chaos import RunResult, run_chaos
from recorder.cli.app import main


@main.command("chaos")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the first run.")
@click.option("--runs", type=int, default=20, show_default=True, help="How many runs.")
@click.option(
    "--seconds", type=float, default=10.0, show_default=True, help="Fault injection per run."
)
@click.option("--bots", type=int, default=2, show_default=True, help="Bot processes per run.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def chaos(seed: int, runs: int, seconds: float, bots: int, as_json: bool) -> None:
    """Bots trade against the simulator under every fault and SIGKILL; check convergence.

    Exits 1 unless every run converged (each failure prints its seed).
    """

    def progress(r: RunResult) -> None:
        if not as_json:
            mark = "ok" if r.converged else "FAILED"
            click.echo(
                f"seed {r.seed}: {mark}, {sum(r.faults.values())} faults, {r.kills} kills, "
                f"settled in {r.settle_s:.2f} s",
                err=True,
            )

    report = run_chaos(seed, runs, duration_s=seconds, bots=bots, progress=progress)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "runs": len(report.runs),
                    "faults": report.faults,
                    "kills": report.kills,
                    "convergence": report.convergence,
                    "failed_seeds": [r.seed for r in report.runs if not r.converged],
                }
            )
        )
    else:
        click.echo(report.summary())
    if report.convergence < 1.0:
        sys.exit(1)
