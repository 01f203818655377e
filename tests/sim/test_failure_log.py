"""The simulator loop's failure log, pure: the first failure of a kind in full, then counts."""

from __future__ import annotations

from recorder.sim.failures import FailureLog, Report, Step, kind_of

S = 1_000_000_000


def failure(message: str = "a planted bug") -> RuntimeError:
    try:
        raise RuntimeError(message)  # one line: every failure made here is of one kind
    except RuntimeError as exc:
        return exc


def other_failure() -> KeyError:
    try:
        raise KeyError("elsewhere")
    except KeyError as exc:
        return exc


def test_a_kind_is_the_exception_type_and_the_line_that_raised_it_not_its_message() -> None:
    assert kind_of(failure("one")) == kind_of(failure("two"))
    assert kind_of(failure()).startswith("RuntimeError at test_failure_log.py:")
    assert kind_of(other_failure()) != kind_of(failure())
    assert kind_of(ValueError("never raised")) == "ValueError"


def test_the_first_of_a_kind_is_reported_then_repeats_once_per_interval() -> None:
    log = FailureLog(every_ns=10 * S)
    first = log.note(Step.HEARTBEATS, failure(), 0, "beat 1")
    assert first == Report(Step.HEARTBEATS, kind_of(failure()), 0, 0, "beat 1")
    assert [log.note(Step.HEARTBEATS, failure(), t * S, f"beat {t}") for t in range(1, 10)] == [
        None
    ] * 9
    again = log.note(Step.HEARTBEATS, failure(), 10 * S, "beat 10")
    assert again == Report(Step.HEARTBEATS, kind_of(failure()), 10, 10 * S, "beat 10")
    assert log.note(Step.HEARTBEATS, failure(), 11 * S, "beat 11") is None
    assert log.counts == {Step.HEARTBEATS: 12} and log.total == 12


def test_another_kind_or_step_is_reported_in_full_at_once() -> None:
    log = FailureLog(every_ns=10 * S)
    assert log.note(Step.HEARTBEATS, failure(), 0, "") is not None
    elsewhere = log.note(Step.HEARTBEATS, other_failure(), 1, "")
    assert elsewhere is not None and elsewhere.repeats == 0
    step = log.note(Step.LIQUIDITY, failure(), 2, "")
    assert step is not None and step.repeats == 0
    assert log.counts == {Step.HEARTBEATS: 2, Step.LIQUIDITY: 1}


def test_pending_reports_every_repeat_not_yet_reported_once() -> None:
    log = FailureLog(every_ns=10 * S)
    log.note(Step.DELAYED, failure(), 0, "")
    log.note(Step.ORDERS, failure(), 0, "")
    log.note(Step.DELAYED, failure(), 1 * S, "")
    log.note(Step.DELAYED, failure(), 2 * S, "the last")
    assert log.pending(3 * S) == [Report(Step.DELAYED, kind_of(failure()), 2, 3 * S, "the last")]
    assert log.pending(4 * S) == []
