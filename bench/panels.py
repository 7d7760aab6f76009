"""Draws a Grafana dashboard JSON with matplotlib from Prometheus `query_range` results, the way Grafana would:
panels at their `gridPos` on the 24-column grid, row headers, titles, legends from `legendFormat`, the panel's
unit, stat panels as a big number over a sparkline and bar gauges as bars, in Grafana's dark theme.

Input is what `bench/dashboard.py` saves: per panel id, each target's matrix. App ids in legends are shown as
"name (id prefix)" for legibility (a Grafana value mapping would do the same). Writes only the PNG."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Grafana's dark theme and its classic series palette.
CANVAS, PANEL, BORDER, TEXT, MUTED, GRID = "#111217", "#181b1f", "#2c3235", "#ccccdc", "#8e8e99", "#24292e"
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a",
           "#37872d", "#ff9830", "#96d98d", "#ca95e5"]
WIDTH_IN, ROW_IN = 22.0, 0.42  # figure width (24 grid columns) and the height of one grid row, in inches
HEADER_IN, FOOTER_IN = 0.75, 0.45
LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# The legend calculations of Grafana's table legend (`options.legend.calcs`) this renderer knows.
CALCS: dict[str, Callable[[list[float]], float]] = {
    "mean": lambda v: sum(v) / len(v), "max": max, "min": min, "last": lambda v: v[-1],
    "lastNotNull": lambda v: v[-1]}


def render(dashboard: Mapping[str, Any], raw: Mapping[str, Any], out: Path) -> None:
    """Draw `dashboard` with the query results in `raw` (keys `panels`, `start`, `end`, `app_names`,
    `alerts_fired`) and save it as a PNG at `out` (folders created)."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt

    results = {p["id"]: p["targets"] for p in raw["panels"]}
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    height = HEADER_IN + rows * ROW_IN + FOOTER_IN
    fig = plt.figure(figsize=(WIDTH_IN, height), facecolor=CANVAS)
    plt.rcParams.update({"font.family": "DejaVu Sans", "text.color": TEXT, "axes.labelcolor": MUTED,
                         "xtick.color": MUTED, "ytick.color": MUTED, "axes.edgecolor": BORDER})
    start, end = datetime.fromtimestamp(raw["start"], UTC), datetime.fromtimestamp(raw["end"], UTC)
    fig.text(0.008, 1 - 0.3 / height, dashboard["title"], fontsize=17, weight="bold", va="center")
    fig.text(0.992, 1 - 0.3 / height, f"{start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC", fontsize=11,
             color=MUTED, va="center", ha="right")
    fig.text(0.008, 1 - 0.58 / height, "Every panel is this dashboard's own PromQL, evaluated by a real Prometheus "
             "over a load run of the production path (make dashboard).", fontsize=10, color=MUTED, va="center")
    box = _Grid(height, (start, end))
    names = raw.get("app_names", {})
    for panel in dashboard["panels"]:
        draw = {"row": _row, "stat": _stat, "bargauge": _bargauge}.get(panel["type"], _timeseries)
        draw(fig, box, panel, results.get(panel["id"], []), names)
    alerts = ", ".join(raw.get("alerts_fired") or []) or "none"
    fig.text(0.008, 0.2 / height, f"Alerts of ops/prometheus/alerts.yml that fired in the same Prometheus during "
             f"the run: {alerts}.", fontsize=10, color=MUTED, va="center")
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=90, facecolor=CANVAS)
    plt.close(fig)
    # A dark dashboard has few distinct colours: a 256-colour palette keeps it sharp at a third of the bytes.
    from PIL import Image

    Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


class _Grid:
    """Grafana grid units to figure fractions."""

    def __init__(self, height_in: float, window: tuple[datetime, datetime]) -> None:
        self.height = height_in
        self.window = window  # every time axis spans the whole query window, as in Grafana

    def rect(self, grid: Mapping[str, int], pad: float = 0.06) -> tuple[float, float, float, float]:
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        left = (x / 24) * WIDTH_IN + pad
        top = HEADER_IN + y * ROW_IN + pad
        return (left / WIDTH_IN, 1 - (top + h * ROW_IN - 2 * pad) / self.height,
                (w / 24 * WIDTH_IN - 2 * pad) / WIDTH_IN, (h * ROW_IN - 2 * pad) / self.height)

    def inches(self, value: float, horizontal: bool = False) -> float:
        return value / (WIDTH_IN if horizontal else self.height)


def _frame(fig: Any, box: _Grid, panel: Mapping[str, Any]) -> tuple[float, float, float, float]:
    left, bottom, width, height = box.rect(panel["gridPos"])
    frame = fig.add_axes((left, bottom, width, height))
    frame.set_facecolor(PANEL)
    frame.set_xticks([])
    frame.set_yticks([])
    for spine in frame.spines.values():
        spine.set_color(BORDER)
    frame.text(0.012 * 12 / panel["gridPos"]["w"], 1 - box.inches(0.2) / height, panel["title"],
               transform=frame.transAxes, fontsize=11.5, weight="bold", va="center")
    return left, bottom, width, height


def _row(fig: Any, box: _Grid, panel: Mapping[str, Any], _results: list[Any], _names: Mapping[str, str]) -> None:
    left, bottom, _width, height = box.rect(panel["gridPos"])
    fig.text(left, bottom + height / 2, "\u25be " + panel["title"], fontsize=13.5, weight="bold", va="center")


def _series(results: list[Mapping[str, Any]], names: Mapping[str, str]) -> list[tuple[str, list[float], list[float]]]:
    """(legend, unix times, values) for every series of every target, in target order."""
    out = []
    for target in results:
        for series in target["result"]:
            labels = {k: _label(v, names) for k, v in series["metric"].items()}
            fmt = target.get("legendFormat") or ""
            legend = LABEL.sub(lambda m, labels=labels: labels.get(m.group(1), ""), fmt) if fmt else _metric(labels)
            times, values = _with_gaps([float(t) for t, _ in series["values"]],
                                       [float(v) for _, v in series["values"]])
            out.append((legend.strip() or target["refId"], times, values))
    return out


def _with_gaps(times: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    """A NaN wherever samples are missing (a target down, a series not yet born), so the line breaks there as
    in Grafana instead of bridging the hole."""
    if len(times) < 3:
        return times, values
    step = sorted(b - a for a, b in zip(times, times[1:], strict=False))[0]
    out_t, out_v = [times[0]], [values[0]]
    for t, v in zip(times[1:], values[1:], strict=True):
        if t - out_t[-1] > 1.5 * step:
            out_t.append(out_t[-1] + step)
            out_v.append(math.nan)
        out_t.append(t)
        out_v.append(v)
    return out_t, out_v


def _label(value: str, names: Mapping[str, str]) -> str:
    return f"{names[value]} ({value[:8]})" if value in names else value


def _metric(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _timeseries(fig: Any, box: _Grid, panel: Mapping[str, Any], results: list[Any], names: Mapping[str, str]) -> None:
    import matplotlib.dates as mdates

    left, bottom, width, height = _frame(fig, box, panel)
    series = _series(results, names)
    calcs = [c for c in panel.get("options", {}).get("legend", {}).get("calcs", []) if c in CALCS]
    columns = max(1, int(width * WIDTH_IN // (3.4 + 0.6 * len(calcs))))
    legend_rows = math.ceil(len(series) / columns) if series else 0
    legend_in = 0.1 + 0.19 * legend_rows
    ax = fig.add_axes((left + box.inches(0.72, True), bottom + box.inches(0.32 + legend_in),
                       width - box.inches(0.85, True), height - box.inches(0.72 + legend_in)))
    ax.set_facecolor(PANEL)
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    fmt = formatter(unit)
    for i, (_legend, times, values) in enumerate(series):
        when = [datetime.fromtimestamp(t, UTC) for t in times]
        color = PALETTE[i % len(PALETTE)]
        ax.plot(when, values, color=color, linewidth=1.4)
        ax.fill_between(when, values, color=color, alpha=0.08)
    if not series:
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", va="center", color=MUTED, fontsize=12)
    ax.grid(True, color=GRID, linewidth=0.8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(labelsize=8.5, length=0)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))
    ax.yaxis.set_major_formatter(lambda v, _pos: fmt(v))
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    ax.set_xlim(*box.window)
    for i, (legend, _times, values) in enumerate(series):
        col, row = i % columns, i // columns
        x = left + box.inches(0.15, True) + col * (width - box.inches(0.3, True)) / columns
        y = bottom + box.inches(legend_in - 0.1 - 0.19 * row)
        finite = [v for v in values if math.isfinite(v)]
        stats = "".join(f"  {c} {fmt(CALCS[c](finite))}" for c in calcs) if finite else ""
        fig.text(x, y, "\u25ac", color=PALETTE[i % len(PALETTE)], fontsize=9, va="center")
        fig.text(x + box.inches(0.2, True), y, _clip(legend, 40 if columns > 1 else 80) + stats, fontsize=8.5,
                 va="center", color=TEXT)


def _stat(fig: Any, box: _Grid, panel: Mapping[str, Any], results: list[Any], names: Mapping[str, str]) -> None:
    left, bottom, width, height = _frame(fig, box, panel)
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    series = _series(results, names)
    finite = [(t, v) for _l, times, values in series[:1] for t, v in zip(times, values, strict=True)
              if math.isfinite(v)]
    spark = fig.add_axes((left, bottom, width, height * 0.35))
    spark.set_axis_off()
    if finite:
        spark.fill_between([t for t, _ in finite], [v for _, v in finite], color="#73bf69", alpha=0.25)
        spark.plot([t for t, _ in finite], [v for _, v in finite], color="#73bf69", linewidth=1.2)
        spark.margins(x=0, y=0)
        low, high = min(v for _, v in finite), max(v for _, v in finite)
        spark.set_ylim(low - (high - low or 1) * 0.1, high + (high - low or 1) * 1.2)
    value = formatter(unit)(finite[-1][1]) if finite else "No data"
    fig.text(left + width / 2, bottom + height * 0.52, value, fontsize=44, weight="bold", ha="center",
             va="center", color="#73bf69" if finite else MUTED)
    fig.text(left + width / 2, bottom + height * 0.26, "last value over the window", fontsize=9, ha="center",
             color=MUTED)


def _bargauge(fig: Any, box: _Grid, panel: Mapping[str, Any], results: list[Any], names: Mapping[str, str]) -> None:
    left, bottom, width, height = _frame(fig, box, panel)
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    fmt = formatter(unit)
    bars = []
    for legend, _times, values in _series(results, names):
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            bars.append((legend, finite[-1]))
    if not bars:
        fig.text(left + width / 2, bottom + height / 2, "No data", ha="center", color=MUTED, fontsize=12)
        return
    top = max(1.0, max(v for _, v in bars)) if unit == "percentunit" else max(v for _, v in bars) or 1.0
    slot = (height - box.inches(0.5)) / len(bars)
    for i, (legend, value) in enumerate(bars):
        y = bottom + height - box.inches(0.45) - slot * (i + 0.5)
        fig.text(left + box.inches(0.15, True), y + slot * 0.28, legend, fontsize=9, va="center")
        track = fig.add_axes((left + box.inches(0.15, True), y - slot * 0.32, width - box.inches(1.4, True),
                              slot * 0.42))
        track.set_axis_off()
        track.set_xlim(0, top)
        track.set_ylim(0, 1)
        share = value / top if top else 0.0
        color = "#f2495c" if unit == "percentunit" and value >= 1 else \
            "#ff9830" if unit == "percentunit" and value >= 0.8 else "#73bf69"
        track.barh(0.5, top, height=1, color=GRID)
        track.barh(0.5, value, height=1, color=color)
        fig.text(left + width - box.inches(0.15, True), y - slot * 0.1, fmt(value), fontsize=13, weight="bold",
                 va="center", ha="right", color=color if share else TEXT)


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "\u2026"


def formatter(unit: str) -> Callable[[float], str]:
    """Grafana's value formatting for the units this dashboard uses (s, percentunit, reqps, short)."""
    def seconds(v: float) -> str:
        if v == 0:
            return "0 s"
        return f"{v * 1000:.3g} ms" if abs(v) < 1 else f"{v:.3g} s" if abs(v) < 120 else f"{v / 60:.3g} min"

    def short(v: float) -> str:
        for scale, suffix in ((1e9, " B"), (1e6, " M"), (1e3, " K")):
            if abs(v) >= scale:
                return f"{v / scale:.3g}{suffix}"
        return f"{v:.3g}"

    return {"s": seconds, "percentunit": lambda v: f"{v * 100:.3g}%", "reqps": lambda v: f"{short(v)} req/s",
            "percent": lambda v: f"{v:.3g}%"}.get(unit, short)
