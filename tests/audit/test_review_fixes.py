"""Found in review, on a journal recorded from the simulator's session driver: the audit trail
of a replacement (``CancelReplace``) carries the side and ``client_ref`` of the order it
replaces (LX/1's ``CancelReplace`` carries neither: docs/protocol.md), in an order's story and
in a window's report that begins after the order was sent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_audit import _record  # the module's recording through the session driver

from recorder.audit import audit_report, collect, order_story
from recorder.core.frames import Direction
from recorder.journal import Journal, open_journal
from recorder.sim.session import SessionConfig
from recorder.venues.lx.codec import decode


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("review") / "audit.journal"
    with open_journal(path) as journal:
        _record(journal, SessionConfig(seed=11, steps=4000))
    return path


Terms = tuple[bool, str]


def _replacements(journal: Journal) -> tuple[dict[str, Terms], dict[str, int]]:
    """Each replacement's terms as the bot placed them (the side and ``client_ref`` of the
    ``LimitOrder`` at the start of its chain of replacements), and when it was sent."""
    terms: dict[str, Terms] = {}
    replacements: dict[str, Terms] = {}
    sent: dict[str, int] = {}
    for f in journal.frames():
        if f.direction is not Direction.OUT or f.malformed:
            continue
        env = decode(f.payload)
        for e in (env, *env.batch.messages):
            body = e.WhichOneof("body")
            if body == "limit_order":
                terms[e.mid] = (e.limit_order.is_ask, e.limit_order.client_ref)
            elif body == "cancel_replace" and e.cancel_replace.entry_id in terms:
                terms[e.mid] = replacements[e.mid] = terms[e.cancel_replace.entry_id]
                sent.setdefault(e.mid, f.wall_ns)
    return replacements, sent


def test_a_replacements_story_has_the_side_and_client_ref_of_its_order(path: Path) -> None:
    with open_journal(path, readonly=True) as journal:
        replacements, _ = _replacements(journal)
        told = {}
        for mid in replacements:
            life = order_story(journal, mid).lifecycle
            assert life is not None and life.kind == "CancelReplace"
            told[mid] = (life.is_ask, life.client_ref)
    assert len(replacements) > 100
    assert told == replacements


def test_a_windows_replacements_have_the_terms_of_orders_sent_before_it(path: Path) -> None:
    with open_journal(path, readonly=True) as journal:
        replacements, sent = _replacements(journal)
        since = sorted(sent.values())[len(sent) // 2]
        window = {life.mid: life for life in collect(journal, since, None).lifecycles}
        report = audit_report(journal, since)
    inside = {m: t for m, t in replacements.items() if sent[m] >= since}
    assert len(inside) > 50
    assert {m: (window[m].is_ask, window[m].client_ref) for m in inside} == inside
    mid, (is_ask, ref) = next(iter(inside.items()))
    (row,) = [line for line in report.splitlines() if line.startswith(f"| {mid} |")]
    assert f"| CancelReplace | {ref} |" in row and ("| sell |" if is_ask else "| buy |") in row
