"""The status socket (a plain REP on loopback, ``[capture] status_bind``): whatever a request
holds, it gets one reply and the capture loop serves on."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import zmq
from capture_stack import Stack, wait_until

from recorder.capture.status import CaptureStatus, answer


def _ask(stack: Stack, *parts: bytes) -> dict[str, object]:
    """Send a request of ``parts`` to the status socket; its reply (fails if the session ends)."""
    req = zmq.Context.instance().socket(zmq.REQ)
    req.linger = 0
    req.connect(stack.service.endpoints.status)
    try:
        req.send_multipart(list(parts))

        def reply() -> list[bytes] | None:
            assert not stack.service.wait(0), "the capture session ended"
            return req.recv_multipart() if req.poll(0) else None

        (only,) = wait_until(reply)
        decoded = json.loads(only)
        assert isinstance(decoded, dict)
        return decoded
    finally:
        req.close()


@pytest.mark.parametrize(
    "parts",
    [
        (json.dumps({"op": "status"}).encode(), b"extra"),  # several parts (was EFSM on send)
        (b"[" * 100_000,),  # nested past the recursion limit (was a RecursionError)
        (b"\xff\xfe",),
        (b"[1, 2]",),
    ],
    ids=["multipart", "deeply-nested", "not-utf8", "not-an-object"],
)
def test_an_odd_status_request_is_refused_and_the_service_serves_on(
    make_stack: Callable[..., Stack], parts: tuple[bytes, ...]
) -> None:
    stack = make_stack()
    bot = stack.bot(market=False)
    bot.ping()
    assert _ask(stack, *parts)["ok"] is False
    bot.ping()
    reply = _ask(stack, json.dumps({"op": "status"}).encode())
    assert reply["ok"] is True


def test_a_status_that_fails_is_answered_as_a_refusal() -> None:
    def broken() -> CaptureStatus:
        raise OSError("the journal's disk went away")

    reply = json.loads(answer([json.dumps({"op": "status"}).encode()], broken))
    assert reply == {"ok": False, "error": "internal error: OSError: the journal's disk went away"}
