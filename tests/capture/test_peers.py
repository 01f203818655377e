"""Peers counts authenticated connections from monitor events whose handshake events carry no fd.

The scripted sequences are those libzmq 4.3.5 emitted for a CURVE ROUTER with a ZAP allow-list
(one I/O thread): a probe emits ``FAILED_NO_DETAIL`` (its peer left, or ``HANDSHAKE_IVL`` ran
out) and its ``DISCONNECTED`` back to back; a wrong server key ``FAILED_PROTOCOL`` and its
``DISCONNECTED`` back to back; a refused key ``FAILED_AUTH`` and, once its peer leaves or the
handshake times out, its ``DISCONNECTED`` alone, with other connections' events in between.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
import zmq
from capture_stack import Stack
from plain_bot import TIMEOUT

from recorder.capture.sockets import Peers
from recorder.capture.status import query_status

ACCEPTED = zmq.EVENT_ACCEPTED
DISCONNECTED = zmq.EVENT_DISCONNECTED
SUCCEEDED = zmq.EVENT_HANDSHAKE_SUCCEEDED
REFUSED = zmq.EVENT_HANDSHAKE_FAILED_AUTH
NO_DETAIL = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
PROTOCOL = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL

VALUES = {SUCCEEDED: 0, REFUSED: 400, NO_DETAIL: 104, PROTOCOL: 0x11000001}
"""What libzmq puts in a handshake event's value: no fd (a status code, an errno)."""


def counts(*script: int | tuple[int, int]) -> list[int]:
    """``Peers.connected`` after each event: ``(event, fd)``, or a handshake event alone."""
    peers = Peers()
    seen = []
    for step in script:
        kind, value = step if isinstance(step, tuple) else (step, VALUES[step])
        peers.observe({"event": kind, "value": value, "endpoint": b"tcp://127.0.0.1:5555"})
        seen.append(peers.connected)
    return seen


def test_a_bot_connects_and_leaves() -> None:
    assert counts((ACCEPTED, 20), SUCCEEDED, (DISCONNECTED, 20)) == [0, 1, 0]


@pytest.mark.parametrize(("first_out", "last_out"), [(23, 24), (24, 23)])
def test_two_bots_leave_in_either_order(first_out: int, last_out: int) -> None:
    assert counts(
        (ACCEPTED, 23), SUCCEEDED, (ACCEPTED, 24), SUCCEEDED,
        (DISCONNECTED, first_out), (DISCONNECTED, last_out),
    ) == [0, 1, 1, 2, 1, 0]  # fmt: skip


def test_two_bots_handshaking_at_once() -> None:
    assert counts(
        (ACCEPTED, 23), (ACCEPTED, 24), SUCCEEDED, SUCCEEDED, (DISCONNECTED, 24),
    ) == [0, 0, 1, 2, 1]  # fmt: skip


def test_a_probe_that_closes_at_once() -> None:
    assert counts(
        (ACCEPTED, 20), NO_DETAIL, (DISCONNECTED, 20), (ACCEPTED, 20), SUCCEEDED,
    ) == [0, 0, 0, 0, 1]  # fmt: skip


def test_a_held_probe_is_not_credited_with_the_bots_handshakes() -> None:
    # the probe (fd 20) was accepted first, so the first bot's success went to it; its
    # failure, right before its DISCONNECTED, gives that success back to the bot (fd 23)
    assert counts(
        (ACCEPTED, 20), (ACCEPTED, 23), SUCCEEDED,
        NO_DETAIL, (DISCONNECTED, 20),
        (ACCEPTED, 24), SUCCEEDED, (DISCONNECTED, 23), (DISCONNECTED, 24),
    ) == [0, 0, 1, 1, 1, 1, 2, 1, 0]  # fmt: skip


@pytest.mark.parametrize("order", [(22, 20), (20, 22)])
def test_two_held_probes_leave_in_either_order(order: tuple[int, int]) -> None:
    # the first probe (fd 20) is credited with the bot's (fd 27) success
    script: list[int | tuple[int, int]] = [
        (ACCEPTED, 20),
        (ACCEPTED, 22),
        (ACCEPTED, 27),
        SUCCEEDED,
    ]
    for fd in order:
        script += [NO_DETAIL, (DISCONNECTED, fd)]
    assert counts(*script, (DISCONNECTED, 27)) == [0, 0, 0, 1, 1, 1, 1, 1, 0]


def test_a_refused_key_that_leaves_at_once() -> None:
    assert counts(
        (ACCEPTED, 21), REFUSED, (DISCONNECTED, 21), (ACCEPTED, 21), SUCCEEDED,
    ) == [0, 0, 0, 0, 1]  # fmt: skip


@pytest.mark.parametrize(
    ("first_out", "last_out", "between"), [(24, 22, 1), (22, 24, 0)], ids=["refused", "bot"]
)
def test_a_refused_connection_lingering_while_a_bot_comes_and_goes(
    first_out: int, last_out: int, between: int
) -> None:
    # its peer ignores the ERROR: the connection stays until HANDSHAKE_IVL, its DISCONNECTED alone
    assert counts(
        (ACCEPTED, 24), REFUSED, (ACCEPTED, 22), SUCCEEDED,
        (DISCONNECTED, first_out), (DISCONNECTED, last_out),
    ) == [0, 0, 0, 1, between, 0]  # fmt: skip


def test_a_refused_key_while_a_bot_handshakes() -> None:
    assert counts(
        (ACCEPTED, 27), (ACCEPTED, 28), SUCCEEDED, REFUSED, (DISCONNECTED, 28),
        (DISCONNECTED, 27),
    ) == [0, 0, 1, 1, 1, 0]  # fmt: skip


def test_a_held_probe_credited_with_a_refusal() -> None:
    # the refusal went to the probe (fd 20); when the probe goes it moves to the refused
    # connection (fd 21), so the bot's success is not credited to that one
    assert counts(
        (ACCEPTED, 20), (ACCEPTED, 21), REFUSED, NO_DETAIL, (DISCONNECTED, 20),
        (ACCEPTED, 23), SUCCEEDED, (DISCONNECTED, 21),
    ) == [0, 0, 0, 0, 0, 0, 1, 1]  # fmt: skip


def test_a_wrong_server_key() -> None:
    assert counts(
        (ACCEPTED, 23), SUCCEEDED, (ACCEPTED, 21), PROTOCOL, (DISCONNECTED, 21),
        (ACCEPTED, 21), PROTOCOL, (DISCONNECTED, 21),
    ) == [0, 1, 1, 1, 1, 1, 1, 1]  # fmt: skip


def test_a_peer_that_is_not_zmtp() -> None:
    # rejected at its greeting (ZMTP 1.0 and 2.0 are refused under ZAP): no handshake event
    assert counts((ACCEPTED, 20), (DISCONNECTED, 20), (ACCEPTED, 23), SUCCEEDED) == [0, 0, 0, 1]


def test_bots_connected_survives_a_tcp_probe(
    make_stack: Callable[..., Stack], second_bot_keys: Any
) -> None:
    """A TCP connection that never handshakes is accepted before a bot: the bot's handshake is
    credited to it; its leaving must not take the bot's count with it."""
    stack = make_stack()
    endpoints = stack.service.endpoints
    assert endpoints is not None
    url = urlparse(endpoints.order.replace("tcp://", "http://"))
    probe = socket.create_connection((url.hostname, url.port), timeout=TIMEOUT)
    first = stack.bot(market=False)
    first.ping()  # its handshake event came before its first message: the count has it
    assert query_status(endpoints.status).bots_connected == 1
    # The probe leaves mid-handshake; the service's failure and DISCONNECTED events are out
    # once it has closed its side (its greeting read, then the end of the stream).
    probe.shutdown(socket.SHUT_WR)
    while probe.recv(4096):
        pass
    probe.close()
    assert query_status(endpoints.status).bots_connected == 1
    second = stack.bot(second_bot_keys, market=False)
    second.ping()
    first.ping()
    assert query_status(endpoints.status).bots_connected == 2
