"""docs/img/cloudwatch-dashboard.png: the CloudWatch dashboard of one environment drawn from its widget
definitions (`infra/cloudwatch.py`), for the docs; no AWS account is needed, so no data is shown.

Widgets without x/y flow as CloudWatch places them: left to right in a 24-column grid, a new row when the next
widget does not fit. Each box shows the widget's title and the metrics it plots.

Usage: python -m bench.cloudwatch_layout [--environment prod] [--out docs/img/cloudwatch-dashboard.png]"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.stack import ROOT
from infra.cloudwatch import MonitoringTargets, dashboard_body


def placed(widgets: list[dict[str, Any]]) -> list[tuple[int, int, dict[str, Any]]]:
    """(x, y, widget) in grid units, by CloudWatch's automatic flow."""
    x = y = row_height = 0
    out = []
    for widget in widgets:
        if x + widget["width"] > 24:
            x, y, row_height = 0, y + row_height, 0
        out.append((x, y, widget))
        x, row_height = x + widget["width"], max(row_height, widget["height"])
    return out


def draw(body: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    cells = placed(body["widgets"])
    height = max(y + w["height"] for _, y, w in cells)
    fig, ax = plt.subplots(figsize=(16, height * 0.36))
    ax.set_xlim(0, 24)
    ax.set_ylim(height, 0)
    ax.axis("off")
    for x, y, widget in cells:
        props = widget["properties"]
        if widget["type"] == "text":
            ax.text(x + 0.1, y + 0.6, props["markdown"].lstrip("# "), fontsize=11, weight="bold", va="center")
            continue
        ax.add_patch(Rectangle((x + 0.1, y + 0.1), widget["width"] - 0.2, widget["height"] - 0.2,
                               facecolor="#f7f9fb", edgecolor="#8a9bb0"))
        ax.text(x + 0.3, y + 0.7, props["title"], fontsize=9, weight="bold", va="center")
        room = int(widget["width"] * 4.4)  # characters that fit in the box at this font size
        lines = [f"{row[1]}  {' '.join(str(v) for v in row[3::2] if isinstance(v, str))}"[:room]
                 for row in props["metrics"]]
        shown = lines[:6] + ([f"... {len(lines) - 6} more"] if len(lines) > 6 else [])
        ax.text(x + 0.3, y + 1.4, "\n".join(shown), fontsize=7, va="top", family="monospace", color="#38475a")
        ax.text(x + widget["width"] - 0.3, y + 0.7, props.get("stat", ""), fontsize=7, ha="right", va="center",
                color="#8a9bb0")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--environment", default="prod")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "cloudwatch-dashboard.png"))
    args = parser.parse_args()
    env = args.environment
    # Illustrative identifiers in the shapes the program's resources produce.
    targets = MonitoringTargets(env, "us-east-1", f"trellis-{env}", f"trellis-{env}-db-pg",
                                (f"trellis-{env}-cache-001", f"trellis-{env}-cache-002"), f"trellis-{env}-objects",
                                nat_gateway_ids=("nat-0123456789abcdef0",),
                                load_balancer=f"app/trellis-{env}-api/50dc6c495c0c9188",
                                target_groups=(f"targetgroup/trellis-{env}-api/6d0ecf831eec9f09",))
    draw(dashboard_body(targets), Path(args.out))
    print(args.out)


if __name__ == "__main__":
    main()
