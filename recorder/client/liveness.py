"""The heartbeat watch, where the SDK has always imported it from: it lives in
:mod:`recorder.core.liveness` (pure, shared with the capture service)."""

from recorder.core.liveness import ChannelWatch, LivenessWatch

__all__ = ["ChannelWatch", "LivenessWatch"]
