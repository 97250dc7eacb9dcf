"""Smoke test of the scale-out benchmark: `python -m bench.scale --small` runs end to end on
its own private server (a hot standby of it included) and writes a scale.json with every
figure. Numbers are not checked against their targets (they depend on the machine), only
that each is there and is a positive, finite number, and that every period was dropped."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.scale import REQUIRED_KEYS, missing_keys

ROOT = Path(__file__).resolve().parent.parent


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0 and math.isfinite(value)


# About 30 s on a 2-core machine shared with other runs: slow, as the suite's smoke test.
@pytest.mark.slow
def test_small_scale_run_writes_every_figure(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--small", "--no-docs", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "scale.json").read_text())

    assert missing_keys(result) == []
    assert len(REQUIRED_KEYS) > 50
    assert set(result) == {"meta", "drop", "write", "standby", "targets"}
    assert result["meta"]["small"] is True

    drop = result["drop"]
    assert [p["events"] for p in drop["periods"]] == [0, drop["small_events"],
                                                      drop["large_events"], 0]
    assert all(p["dropped"] == [p["partition"]] for p in drop["periods"])
    assert all(_positive(p["drop_ms"]) for p in drop["periods"])
    assert _positive(drop["large_over_small"])

    write = result["write"]
    for mode in ("copy", "single"):
        for table in ("partitioned", "unpartitioned"):
            assert len(write[mode][table]["seconds"]) == write["reps"]
            assert _positive(write[mode][table]["events_per_s"])
        assert _positive(write[mode]["partitioned_over_unpartitioned"])
    assert write["unpartitioned_runs_folded"] > 0

    standby = result["standby"]
    assert standby["results_equal"] is True
    for read in ("overview_typical", "for_route"):
        for server in ("primary", "standby"):
            assert _positive(standby["reads"][read][server]["p50_ms"]), (read, server)
        assert _positive(standby["reads"][read]["standby_over_primary"])
    assert {t["target"] for t in result["targets"]} == {1.0, 2.0, 1.2}
    assert all(isinstance(t["met"], bool) for t in result["targets"])
