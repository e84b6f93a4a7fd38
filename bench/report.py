"""One table (each Huddle figure beside its ceiling, the ratio and the issue's target),
the JSON of everything measured, and an SVG latency histogram."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import BIN_EDGES_MS, histogram

Results = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    database: str
    measure: str
    value: float | None
    ceiling: float | None = None
    ceiling_name: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.ceiling:
            return None
        return self.value / self.ceiling


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git on PATH)
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "loadavg_start": load_average(),
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _at_least(limit: float) -> tuple[str, Callable[[float], bool]]:
    return f">= {_number(limit)}", lambda v: v >= limit


def _at_most(limit: float) -> tuple[str, Callable[[float], bool]]:
    return f"<= {_number(limit)}", lambda v: v <= limit


def rows(results: Results) -> list[Row]:
    found: list[Row] = []
    ceilings = results.get("ceilings", {})
    relay = ceilings.get("relay") or {}
    inserts = ceilings.get("inserts") or {}

    def add(
        scenario: str,
        database: str,
        measure: str,
        value: float | None,
        ceiling: tuple[float | None, str] = (None, ""),
        target: tuple[str, Callable[[float], bool]] | None = None,
    ) -> None:
        met = target[1](value) if target and value is not None else None
        found.append(
            Row(scenario, database, measure, value, ceiling[0], ceiling[1],
                target[0] if target else "", met)
        )  # fmt: skip

    for database, everything in results.get("huddle", {}).items():
        # A scenario that failed keeps only its error (in the JSON): one row says so.
        failed = [k for k, v in everything.items() if isinstance(v, dict) and "error" in v]
        for scenario in failed:
            add(scenario, database, "FAILED (error in the JSON)", None)
        run = {k: v for k, v in everything.items() if k not in failed}
        raw = inserts.get("sqlite3" if database == "sqlite" else "asyncpg", {})
        pooled = inserts.get("sqlite3" if database == "sqlite" else "asyncpg_x20", {})
        raw_name = "sqlite3 1 row/commit" if database == "sqlite" else "asyncpg 1 row/commit"
        if a := run.get("a"):
            add(
                "a",
                database,
                "sequential msgs/s",
                a["messages_per_second"],
                (raw.get("rows_per_second"), raw_name),
                _at_least(500),
            )
            add(
                "a",
                database,
                "sequential p50 ms",
                a["latency"]["p50_ms"],
                (raw.get("commit_p50_ms"), "commit p50"),
                _at_most(2),
            )
        if b := run.get("b"):
            pooled_name = raw_name if database == "sqlite" else "asyncpg x20"
            add(
                "b",
                database,
                "20 senders msgs/s",
                b["messages_per_second"],
                (pooled.get("rows_per_second"), pooled_name),
                _at_least(2000 if database == "sqlite" else 3000),
            )
            add("b", database, "server CPU ms/msg", b["server_cpu_ms_per_message"])
        if c := run.get("c"):
            paced = relay.get("paced", {}).get("delivery", {})
            add(
                "c",
                database,
                "delivery p50 ms",
                c["delivery"]["p50_ms"],
                (paced.get("p50_ms"), "bare relay"),
                _at_most(3),
            )
            add(
                "c",
                database,
                "delivery p99 ms",
                c["delivery"]["p99_ms"],
                (paced.get("p99_ms"), "bare relay"),
                _at_most(15),
            )
            add(
                "c",
                database,
                "achieved send rate msgs/s",
                c["achieved_rate"],
                (c["offered_rate"], "offered"),
            )
            add(
                "c",
                database,
                "delivered / expected",
                _share(c["deliveries"], c["deliveries_expected"]),
                target=_at_least(1),
            )
        if d := run.get("d"):
            add(
                "d",
                database,
                "idle sockets open",
                d["idle_sockets_open"],
                (d["idle_sockets_wanted"], "wanted"),
            )
            add(
                "d",
                database,
                "KiB per idle socket",
                d["kib_per_idle_socket"],
                # huddle serve declines permessage-deflate, so the like-for-like relay
                # figure is the one without it.
                (relay.get("kib_per_idle_socket_without_deflate"), "bare relay, no deflate"),
                _at_most(32),
            )
            add("d", database, "errors", d["errors"], target=_at_most(0))
            add("d", database, "active delivery p99 ms", d["active"]["delivery"]["p99_ms"])
        if e := run.get("e"):
            c_p99 = (run.get("c") or {}).get("delivery", {}).get("p99_ms")
            target = _at_most(2 * c_p99) if c_p99 else None
            add(
                "e",
                database,
                "delivery p99 ms, storm",
                e["delivery"]["p99_ms"],
                (c_p99, "(c) p99"),
                target,
            )
            add("e", database, "sign-ins/s", e["sign_ins_per_second"])
        if f := run.get("f"):
            add(
                "f",
                database,
                "s until all caught up",
                f["seconds_until_all_caught_up"],
                target=_at_most(5),
            )
            add(
                "f",
                database,
                "caught up / clients",
                _share(f["caught_up"], f["clients"]),
                target=_at_least(1),
            )
            add("f", database, "missing revisions", f["missing_revisions"], target=_at_most(0))
        if g := run.get("g"):
            add(
                "g",
                database,
                "audited tx/s",
                g["audited_tx_per_second"],
                (g["unaudited_tx_per_second"], "same tx, no audit"),
            )
            add("g", database, "audit events/msg", g["audit_events_per_message"])
            add("g", database, "audit share of server CPU", g["audit_share_of_server_samples"])
    if relay:
        add("ceiling", "-", "relay deliveries/s", relay.get("deliveries_per_second"))
        no_deflate = relay.get("kib_per_idle_socket_without_deflate")
        add("ceiling", "-", "relay KiB/idle socket, no deflate", no_deflate)
    for name, measured in inserts.items():
        add(
            "ceiling",
            "-",
            f"{name} rows/s (x{measured['concurrency']})",
            measured["rows_per_second"],
        )
    return found  # fmt: skip


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(found: list[Row]) -> list[list[str]]:
    header = ["", "db", "measure", "Huddle", "ceiling", "ratio", "target", "met"]
    lines = [header]
    for row in found:
        ceiling = f"{_number(row.ceiling)} {row.ceiling_name}".strip() if row.ceiling else ""
        ratio = f"{row.ratio:.3g}" if row.ratio is not None else ""
        met = {True: "yes", False: "NO", None: ""}[row.met]
        lines.append(
            [row.scenario, row.database, row.measure, _number(row.value), ceiling, ratio,
             row.target, met]
        )  # fmt: skip
    return lines


def plain(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def markdown(lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    out += ["| " + " | ".join(line) + " |" for line in lines[1:]]
    return "\n".join(out)


# ------------------------------------------------------------------ histogram

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def latency_svg(series: dict[str, list[float]], title: str) -> str:
    """Share of deliveries per log-spaced latency bin, one line per series."""
    width, height, left, right, top, bottom = 860, 360, 60, 250, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    bins = len(BIN_EDGES_MS) - 1
    shares = {
        name: [n / len(values) for n in histogram(values)]
        for name, values in series.items()
        if values
    }
    peak = max((max(s) for s in shares.values()), default=1) or 1

    def x(position: float) -> float:
        return left + plot_w * position / bins

    def y(share: float) -> float:
        return top + plot_h * (1 - share / peak)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">{_escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>',
        f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle">'
        "delivery latency, ms (log scale)</text>",
        f'<text x="15" y="{top + plot_h / 2}" transform="rotate(-90 15 {top + plot_h / 2})" '
        'text-anchor="middle">share of deliveries</text>',
    ]
    for decade in range(bins // 5 + 1):
        edge = BIN_EDGES_MS[decade * 5]
        parts.append(
            f'<line x1="{x(decade * 5):.1f}" y1="{top}" x2="{x(decade * 5):.1f}" '
            f'y2="{top + plot_h}" stroke="#ddd"/>'
            f'<text x="{x(decade * 5):.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
            f"{edge:g}</text>"
        )
    for share in (peak / 2, peak):
        parts.append(
            f'<text x="{left - 6}" y="{y(share) + 4:.1f}" text-anchor="end">{share:.0%}</text>'
        )
    for index, (name, values) in enumerate(shares.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(
            f"{x(i):.1f},{y(v):.1f} {x(i + 1):.1f},{y(v):.1f}" for i, v in enumerate(values)
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                     'stroke-width="1.8"/>')  # fmt: skip
        legend_y = top + 14 + index * 18
        parts.append(
            f'<line x1="{width - right + 12}" y1="{legend_y - 4}" x2="{width - right + 32}" '
            f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="3"/>'
            f'<text x="{width - right + 38}" y="{legend_y}">{_escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def latency_series(results: Results) -> dict[str, list[float]]:
    series = {}
    for database, run in results.get("huddle", {}).items():
        for scenario, label in (("c", "paced"), ("e", "sign-in storm")):
            if latencies := (run.get(scenario) or {}).get("latencies"):
                series[f"({scenario}) {database} {label}"] = latencies
    if latencies := (results.get("ceilings", {}).get("relay") or {}).get("latencies"):
        series["bare relay, paced"] = latencies
    return series


def write(results: Results, directory: Path) -> tuple[Path, str]:
    """Write <stamp>.json, .md and -latency.svg; return the JSON path and the table."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = table(rows(results))
    svg = latency_svg(latency_series(results), f"Delivery latency, {results['mode']} run {stamp}")
    (directory / f"{stamp}-latency.svg").write_text(svg)
    (directory / f"{stamp}.md").write_text(markdown(lines) + "\n")
    path = directory / f"{stamp}.json"
    path.write_text(json.dumps(_without_raw_latencies(results), indent=2, default=str) + "\n")
    return path, plain(lines)


def _without_raw_latencies(value: Any) -> Any:
    """The JSON keeps summaries and histograms, not every sample."""
    if isinstance(value, dict):
        return {
            k: (
                {"bin_edges_ms": [round(e, 4) for e in BIN_EDGES_MS], "counts": histogram(v)}
                if k == "latencies"
                else _without_raw_latencies(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_raw_latencies(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
