"""The benchmark harness works: its tiniest run (SQLite only, about a minute on a busy
machine) starts a real server, runs every scenario and prints the table and the JSON.
Speed is never asserted here; bench/ measures it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = "abcdefg"


def test_tiny_run_reports_every_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--no-postgres", "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    table_rows = [line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()]
    assert set(SCENARIOS) <= set(table_rows), done.stdout
    assert "ceiling" in table_rows

    [report] = tmp_path.glob("*.json")
    results = json.loads(report.read_text())
    run = results["huddle"]["sqlite"]
    for scenario in SCENARIOS:
        assert "error" not in run[scenario], (scenario, run[scenario])
    assert run["a"]["messages"] > 0
    assert run["c"]["deliveries"] > 0
    assert run["f"]["caught_up"] == run["f"]["clients"]
    assert results["ceilings"]["relay"]["deliveries_per_second"] > 0
    assert results["ceilings"]["inserts"]["sqlite3"]["rows_per_second"] > 0
    assert "<svg" in next(tmp_path.glob("*-latency.svg")).read_text()
