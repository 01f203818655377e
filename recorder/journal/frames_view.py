"""A frame as a flat, JSON-ready dict: what ``recorder frames`` prints and exports use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from recorder.core.frames import Frame
from recorder.errors import RemoteProtocolError
from recorder.venues.lx.codec import body_of, decode

FRAME_VIEW_COLUMNS = (
    "position", "session_id", "time", "channel", "direction", "kind", "mid", "seq", "run_id",
    "is_replay", "malformed", "body",
)  # fmt: skip


FRAME_TABLE_COLUMNS = ("pos", "time", "ch", "dir", "kind", "mid", "seq", "run", "body")


def frame_row(frame: Frame) -> dict[str, Any]:
    """A compact one-line summary of a frame, for terminal tables."""
    view = frame_view(frame)
    body = view["body"]
    summary = " ".join(f"{k}={v}" for k, v in body.items() if not isinstance(v, list | dict))
    lists = [f"{k}[{len(v)}]" for k, v in body.items() if isinstance(v, list)]
    flags = " MALFORMED" if frame.malformed else ""
    return {
        "pos": frame.position,
        "time": view["time"][11:26],
        "ch": frame.channel.value,
        "dir": frame.direction.value,
        "kind": (frame.kind or "?") + (" (replay)" if frame.is_replay else "") + flags,
        "mid": frame.mid[:8],
        "seq": frame.seq,
        "run": frame.run_id[:8],
        "body": " ".join([summary, *lists])[:60],
    }


def frame_view(frame: Frame) -> dict[str, Any]:
    """The frame's columns plus its decoded body (or the raw bytes in hex when malformed)."""
    body: Any
    try:
        body = MessageToDict(body_of(decode(frame.payload)), preserving_proto_field_name=True)
    except RemoteProtocolError:
        body = {"raw_hex": frame.payload.hex()}
    return {
        "position": frame.position,
        "session_id": frame.session_id,
        "time": datetime.fromtimestamp(frame.wall_ns / 1e9, UTC).isoformat(timespec="microseconds"),
        "wall_ns": frame.wall_ns,
        "mono_ns": frame.mono_ns,
        "channel": frame.channel.value,
        "direction": frame.direction.value,
        "kind": frame.kind,
        "mid": frame.mid,
        "seq": frame.seq,
        "run_id": frame.run_id,
        "is_replay": frame.is_replay,
        "malformed": frame.malformed,
        "body": body,
    }
