"""The committed protobuf code is exactly what the pinned grpcio-tools generates."""

from __future__ import annotations

from pathlib import Path

import pytest

LX = Path(__file__).resolve().parents[2] / "recorder" / "venues" / "lx"


def test_regenerating_lx1_changes_nothing(tmp_path: Path) -> None:
    protoc = pytest.importorskip("grpc_tools.protoc")
    code = protoc.main(
        [
            "protoc",
            f"-I{LX}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(LX / "lx1.proto"),
        ]
    )
    assert code == 0
    for name in ("lx1_pb2.py", "lx1_pb2.pyi"):
        assert (tmp_path / name).read_text() == (LX / name).read_text(), (
            f"{name} is stale: run `make proto` and commit the result"
        )


def test_upb_backend_is_in_use() -> None:
    from google.protobuf.internal import api_implementation

    assert api_implementation.Type() == "upb"  # pure Python would be 30-50x slower
