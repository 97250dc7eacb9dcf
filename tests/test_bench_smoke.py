"""Smoke test of the benchmark suite: `python -m bench.suite --small` runs end to end on
its own private server and writes a suite.json with every figure, the EXPLAINs and
the plot. Numbers are not checked (they depend on the machine), only that each is
there and is a positive, finite number."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.suite import REQUIRED_KEYS, missing_keys

ROOT = Path(__file__).resolve().parent.parent

READS = ("overview_typical", "overview_large", "for_route", "diagnostics")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0 and math.isfinite(value)


# 30-45 s on an idle 2-core machine, over a minute when the cores are shared: slow.
# `make test` still runs it (it deselects only pg15; the PostgreSQL 15 pass runs
# named files of its own).
@pytest.mark.slow
def test_small_suite_writes_every_figure(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.suite", "--small", "--no-docs", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "suite.json").read_text())

    assert missing_keys(result) == []
    assert len(REQUIRED_KEYS) > 100
    assert set(result) == {"meta", "reads", "curves", "planning", "explain", "insert", "copy",
                           "targets"}
    assert result["meta"]["small"] is True
    for read in READS:
        entry = result["reads"][read]
        for part in ("read", "floor", "baseline"):
            assert _positive(entry[part]["p50_ms"]), (read, part)
            assert entry[part]["p90_ms"] >= entry[part]["p50_ms"], (read, part)
        assert _positive(entry["read_over_floor"])
        assert _positive(entry["baseline_over_read"])
    assert [p["connections"] for p in result["curves"]["overview_by_connections"]] == [10, 20, 100]
    assert [p["events_per_connection"] for p in result["curves"]["overview_by_events"]] == [
        10, 100, 1_000]
    assert _positive(result["curves"]["overview_flat_ratio"])
    positions = result["insert"]["by_position"]
    assert [p["position"] for p in positions] == [10, 100, 1_000, 10_000]
    assert all(_positive(p["overhead"]) for p in positions)
    assert _positive(result["insert"]["last_over_first"])
    assert _positive(result["copy"]["overhead"])
    for read in ("overview_typical", "overview_large", "for_route"):
        planning = result["planning"][read]
        if planning["available"]:  # pg_stat_statements: a private server always has it
            assert _positive(planning["plan_ms_per_call"])
            assert planning["statements"]
        assert (tmp_path / f"explain_{read}.txt").read_text().count("actual time") >= 1
    assert {t["target"] for t in result["targets"]} == {1.2, 1.3, 1.5, 2.0, 3.0}
    assert (tmp_path / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
