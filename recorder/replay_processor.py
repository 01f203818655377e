"""The processor a replay feeds: ``--into module:Class`` loaded, a class built.

:func:`load_processor` turns ``recorder replay --into``'s ``module:Class`` (or
``path/to/file.py:Class``) into a :class:`~recorder.client.MessageProcessor` subclass;
:func:`build_processor` makes the instance the :class:`~recorder.replay.Replayer` feeds, the way
the live :class:`~recorder.client.Context` builds one (with the context if the constructor takes
it). Both are re-exported by :mod:`recorder.replay`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from recorder.client import MessageProcessor
from recorder.errors import RecorderError

__all__ = ["ReplayError", "build_processor", "load_processor"]


class ReplayError(RecorderError):
    """A replay cannot start: an unknown ``--into`` processor, a session not in the journal."""


def build_processor(
    processor: MessageProcessor | type[MessageProcessor], context: object
) -> MessageProcessor:
    """``processor`` itself if it is an instance; else ``processor(context)`` if its
    constructor takes a positional argument, ``processor()`` if not."""
    if not isinstance(processor, type):
        return processor
    try:
        params = inspect.signature(processor).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    required = [
        p
        for p in params.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return processor(context) if required else processor()  # type: ignore[call-arg]


def load_processor(spec: str) -> type[MessageProcessor]:
    """``module:Class`` or ``path/to/file.py:Class`` → the processor class (for ``--into``)."""
    module_name, _, class_name = spec.rpartition(":")
    if not module_name or not class_name:
        raise ReplayError(f"--into takes module:Class (or file.py:Class), not {spec!r}")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            loader_spec = importlib.util.spec_from_file_location(path.stem, path)
            if loader_spec is None or loader_spec.loader is None or not path.exists():
                raise ReplayError(f"cannot load {path}: no such Python file")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules.setdefault(path.stem, module)
            loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path:
                sys.path.insert(0, "")  # the current directory, as ``python -m`` does
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReplayError(f"cannot import {module_name!r} for --into: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, MessageProcessor)):
        raise ReplayError(f"{spec} is not a MessageProcessor subclass")
    return cls
