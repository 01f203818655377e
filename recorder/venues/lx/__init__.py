"""LX/1: the ZeroMQ + CurveZMQ + protobuf reconstruction of the LedgerX API (docs/protocol.md)."""

from recorder.venues.lx.codec import (
    BODY_KINDS,
    MVERSION,
    FrameMeta,
    body_of,
    decode,
    encode,
    frame_meta,
    kind_of,
    make_envelope,
)

__all__ = [
    "BODY_KINDS",
    "MVERSION",
    "FrameMeta",
    "body_of",
    "decode",
    "encode",
    "frame_meta",
    "kind_of",
    "make_envelope",
]
