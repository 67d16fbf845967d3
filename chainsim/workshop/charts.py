"""The workshop's live charts, drawn in the browser by ECharts.

The server sends numbers, not pictures: one ECharts option per redraw (a few
tens of kilobytes, built in about a millisecond), and the browser draws it.
Drawing the same six panels with matplotlib on the server cost 0.6-0.7 s of
CPU and 160-260 KB of PNG per redraw. Everything here is a pure function of a
:class:`~chainsim.workshop.session.Snapshot`, so it is tested without a browser.
"""

from __future__ import annotations

import json
import math
from typing import Any

import ipyvuetify
import numpy as np
import traitlets

from ..plots import FUNCTION_COLORS
from ..schema import FUNCTIONS
from .session import Snapshot

#: (title, unit, columns, smoothed over a week?)
PANELS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("Flows (per day, 7-day mean)", "people",
     ("leads_new", "first_purchases", "repeat_purchases", "deliveries", "cancelled_orders",
      "complaints", "churned"), True),
    ("Queues (end of day)", "waiting", ("sales_queue", "operations_queue", "service_queue"),
     False),
    ("Utilization (7-day mean)", "share", tuple(f"{f}_utilization" for f in FUNCTIONS), True),
    ("Satisfaction (active customers)", "1 = as promised", ("satisfaction_mean",), False),
    ("Customers", "people", ("active_customers", "promoters", "detractors"), False),
    ("Money (per day, 7-day mean)", "money", ("revenue", "profit"), True),
)
#: The projector shows fewer, larger panels: what the room talks about, titled short.
PROJECTOR_PANELS = (0, 4, 5)
PROJECTOR_TITLES = ("Flows (per day)", "Customers", "Money (per day)")

COLORS = {
    **{f"{f}_{k}": c for f, c in FUNCTION_COLORS.items() for k in ("queue", "utilization")},
    "leads_new": "#1b9e77", "first_purchases": "#d95f02", "repeat_purchases": "#66a61e",
    "deliveries": "#7570b3", "cancelled_orders": "#a6761d", "complaints": "#e7298a",
    "churned": "#666666", "satisfaction_mean": "#1f78b4", "active_customers": "#1f78b4",
    "promoters": "#33a02c", "detractors": "#e31a1c", "revenue": "#1f78b4", "profit": "#33a02c",
}
#: Legend names, short enough for three panels side by side on a 1280-pixel screen
#: (the panel's title says what the lines are: "Queues", "Utilization").
SHORT_NAMES = {
    "leads_new": "leads", "first_purchases": "first buys", "repeat_purchases": "repeat buys",
    "cancelled_orders": "cancelled", "satisfaction_mean": "satisfaction",
    "active_customers": "active",
    **{f"{f}_{k}": f for f in FUNCTIONS for k in ("queue", "utilization")},
}
#: The chart's height on the page (pixels); the projector's fills the screen below the chain.
CHART_HEIGHT = 600
#: How wide a panel's legend is on a 1280-pixel screen (pixels): legends are laid out
#: for it until the page has said how wide the chart really is.
LEGEND_WIDTH = 250
#: A legend item's colour mark and the gaps around its text (pixels, as ECharts draws them).
ITEM_WIDTH, ITEM_HEIGHT, ITEM_GAP, TEXT_GAP = 14, 8, 6, 5
#: At most this many points per line: a year is drawn day by day, longer runs thinned.
MAX_POINTS = 400
SMOOTH_DAYS = 7


def _smooth(values: np.ndarray, days: int = SMOOTH_DAYS) -> np.ndarray:
    """Trailing mean over ``days`` (fewer at the start), like the run's dashboard."""
    if len(values) == 0:
        return values
    cum = np.cumsum(np.nan_to_num(values, nan=0.0))
    out = cum.copy()
    out[days:] = cum[days:] - cum[:-days]
    counts = np.minimum(np.arange(1, len(values) + 1), days)
    return out / counts


def _rounded(values: np.ndarray) -> list:
    """Four significant figures, NaN as a gap: a smaller message, the same picture."""
    finite = values[np.isfinite(values)]
    top = float(np.abs(finite).max()) if len(finite) else 0.0
    decimals = max(0, 3 - math.floor(math.log10(top))) if top > 0 else 0
    out = np.round(values, decimals)
    if decimals == 0:
        return [None if v != v else int(v) for v in out.tolist()]
    return [None if v != v else v for v in out.tolist()]


def _label(column: str) -> str:
    return SHORT_NAMES.get(column, column.replace("_", " "))


def legend_lines(names: list[str], font: float, width: float = LEGEND_WIDTH) -> int:
    """Lines a legend of ``names`` takes, laid out as ECharts does, one item after another.

    A character is taken as 0.55 of the font size wide (wider than the page's
    font needs), plus the colour mark and the gaps.
    """
    lines, used = 1, 0.0
    for name in names:
        item = 0.55 * font * len(name) + ITEM_WIDTH + TEXT_GAP + ITEM_GAP
        if used and used + item > width:
            lines, used = lines + 1, 0.0
        used += item
    return lines


def chart_option(snapshot: Snapshot, *, projector: bool = False,
                 chart_width: float | None = None) -> dict[str, Any]:
    """The ECharts option for a snapshot: one grid per panel, one dataset per business.

    In compare mode the room's proposal is dashed, in the same colours; the
    legends name each measure once (the page says which line style is which),
    and the proposal's lines are named with it in the tooltip. The room's
    changes are marked where they happened (a vertical line with what changed).
    ``chart_width`` is the chart's width on the page in pixels, when the page has
    said it: the legends are laid out for it (else for a 1280-pixel screen).
    """
    panels = list(PANELS)
    if projector:
        panels = [(title, *PANELS[i][1:]) for i, title in zip(PROJECTOR_PANELS,
                                                               PROJECTOR_TITLES, strict=True)]
    cols = 3
    rows = math.ceil(len(panels) / cols)
    font = 16 if projector else 12
    datasets, series = [], []
    for b, business in enumerate(snapshot.businesses):
        days = business.series["day"]
        stride = max(1, math.ceil(len(days) / MAX_POINTS))
        source: dict[str, list] = {"day": days[::stride].astype(int).tolist()}
        for _, _, columns, smooth in panels:
            for col in columns:
                values = business.series[col]
                source[col] = _rounded((_smooth(values) if smooth else values)[::stride])
        datasets.append({"source": source})
        dashed = b > 0
        suffix = f" ({business.label})" if dashed else ""
        for p, (_, _, columns, _) in enumerate(panels):
            for col in columns:
                series.append({
                    "type": "line", "name": _label(col) + suffix, "datasetIndex": b,
                    "encode": {"x": "day", "y": col}, "xAxisIndex": p, "yAxisIndex": p,
                    "showSymbol": False, "animation": False, "connectNulls": False,
                    "color": COLORS[col],
                    "lineStyle": {"width": 3 if projector else 1.6,
                                  "type": "dashed" if dashed else "solid"},
                })
    if snapshot.marks:  # a dotted line in every panel; what changed, in the first
        seen = set()
        for s in series:
            if s["xAxisIndex"] not in seen:
                first = not seen
                seen.add(s["xAxisIndex"])
                s["markLine"] = {
                    "symbol": "none", "silent": True, "animation": False,
                    "lineStyle": {"color": "#444", "type": "dotted", "width": 1.5},
                    "label": {"show": first, "position": "insideEndTop",
                              "fontSize": font - 2},
                    "data": [{"xAxis": m.day, "label": {"formatter": m.text}}
                             for m in snapshot.marks]}
    # Laid out in pixels from the top of each row: the title, the legend (as many
    # lines as it takes at the chart's width), then the plot down to the axis labels,
    # which the plot's box contains (so a wide label never reaches the next panel).
    # The projector's chart is one row as tall as the screen allows.
    row_px = CHART_HEIGHT / rows
    title_px, line_px, bottom_px = font + 12, font + ITEM_GAP - 1, 2 * font + 6
    legend_px = (LEGEND_WIDTH if not chart_width
                 else max(60.0, (100 / cols - 6) / 100 * chart_width))
    legend_rows = [max(legend_lines([_label(c) for c in panels[p][2]], font - 1, legend_px)
                       for p in range(r * cols, min(len(panels), (r + 1) * cols)))
                   for r in range(rows)]
    grids, xaxes, yaxes, titles, legends = [], [], [], [], []
    xmax = max(30, snapshot.day)
    for p, (title, _unit, columns, _) in enumerate(panels):
        r, c = divmod(p, cols)
        left, width = c * 100 / cols, 100 / cols
        top = r * row_px
        legend_top = top + title_px
        grid_top = legend_top + legend_rows[r] * line_px + 8
        grid = {"left": f"{left + 1:.1f}%", "width": f"{width - 5:.1f}%", "top": grid_top,
                "containLabel": True}
        if projector:
            grid["bottom"] = bottom_px
        else:
            grid["height"] = top + row_px - bottom_px - grid_top
        grids.append(grid)
        xaxes.append({"type": "value", "gridIndex": p, "min": 0, "max": xmax,
                      "name": "day" if r == rows - 1 else "", "nameGap": 4,
                      "axisLabel": {"fontSize": font, "showMaxLabel": False}})
        y = {"type": "value", "gridIndex": p, "axisLabel": {"fontSize": font}}
        if title.startswith("Utilization"):
            y.update(min=0, max=1)
        if title.startswith("Satisfaction"):
            y.update(min=0, max=1.1)
        yaxes.append(y)
        titles.append({"text": title, "left": f"{left + 1:.1f}%", "top": top,
                       "textStyle": {"fontSize": font + 1, "fontWeight": "bold"}})
        names = [_label(col) for col in columns]
        # a key, not a switch: the names repeat across panels ("sales" is a queue and
        # a utilization), and in compare mode one name stands for two lines
        legends.append({"data": names, "left": f"{left + 4.5:.1f}%",
                        "top": legend_top, "width": f"{width - 6:.1f}%", "selectedMode": False,
                        "textStyle": {"fontSize": font - 1}, "itemWidth": ITEM_WIDTH,
                        "itemHeight": ITEM_HEIGHT, "icon": "rect", "padding": 0,
                        "itemGap": ITEM_GAP})
    return {"animation": False, "dataset": datasets, "grid": grids, "xAxis": xaxes,
            "yAxis": yaxes, "title": titles, "legend": legends, "series": series,
            "tooltip": {"trigger": "axis"}}


class LiveChartWidget(ipyvuetify.VuetifyTemplate):
    """ECharts in the page, fed with JSON strings.

    Solara's own ``FigureEcharts`` takes the option as nested Python lists,
    which Solara's renderer walks element by element on every redraw looking
    for widgets (some ten thousand numbers here: most of a redraw's cost); a
    string it passes as it is, and the browser parses it once. The option comes
    in two parts: the layout (panels, legends, the room's marks), sent again
    only when it changes, and the data, sent each redraw and merged into the
    chart, so the browser redraws the lines without rebuilding the chart. Once
    a redraw is on screen the page says so (``on_drawn``), so the server never
    sends a page more than it can draw.
    """

    template_file = (__file__, "livechart.vue")
    layout_json = traitlets.Unicode("").tag(sync=True)
    data_json = traitlets.Unicode("").tag(sync=True)
    drawn_label = traitlets.Unicode("").tag(sync=True)
    attributes = traitlets.Dict(default_value=None, allow_none=True).tag(sync=True)
    on_drawn = traitlets.Callable(None, allow_none=True)
    on_resized = traitlets.Callable(None, allow_none=True)

    def vue_drawn(self, label):
        if self.on_drawn is not None:
            self.on_drawn(label)

    def vue_resized(self, width):
        """The page says how wide the chart is (pixels), on the first draw and on a resize."""
        if self.on_resized is not None and isinstance(width, int | float) and width > 0:
            self.on_resized(int(width))


def chart_parts(snapshot: Snapshot, *, projector: bool = False,
                chart_width: float | None = None) -> tuple[str, str]:
    """:func:`chart_option` as two JSON strings: the layout, and the data of this redraw.

    The layout holds no numbers that change from day to day (the x axes' reach
    goes with the data), so consecutive redraws share it.
    """
    option = chart_option(snapshot, projector=projector, chart_width=chart_width)
    data = {"dataset": option.pop("dataset"),
            "xAxis": [{"max": axis.pop("max")} for axis in option["xAxis"]]}
    dumps = lambda x: json.dumps(x, separators=(",", ":"), allow_nan=False)  # noqa: E731
    return dumps(option), dumps(data)
