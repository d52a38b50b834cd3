"""The code base stays ruff-clean; the protocol document covers every wire field."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from devicecare.contracts import MESSAGE_TYPES
from devicecare.contracts.payloads import Event, Mount, Sample, SampleDetail, ThermalZone

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


STRUCTS = [*MESSAGE_TYPES.values(), Sample, SampleDetail, ThermalZone, Mount, Event]


@pytest.mark.parametrize("struct", STRUCTS, ids=lambda s: s.__name__)
def test_protocol_doc_names_every_field(struct: type) -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    missing = [f for f in struct.__struct_fields__ if not re.search(rf"`{re.escape(f)}`", doc)]
    assert not missing, f"docs/protocol.md does not document {struct.__name__}.{missing}"
