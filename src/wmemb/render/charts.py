"""Charts as SVG whose labels are text elements, so Chinese renders with the viewer's own fonts.

An SVG string embeds inline in HTML and opens alone in any browser; nothing is rasterised, so no
font has to be installed where the chart is made. Numbers are drawn with two or three decimals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from wmemb.text import is_cjk

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', 'Noto Sans CJK SC', 'PingFang SC', sans-serif"
FONT_SIZE = 12


@dataclass(frozen=True)
class Series:
    """One bar per category (a model's metrics)."""

    label: str
    values: Sequence[float]


@dataclass(frozen=True)
class Line:
    """One curve; `marked` is the x of a point to ring and name (the best epoch)."""

    label: str
    points: Sequence[tuple[float, float]]
    marked: float | None = None
    mark_label: str = "best"


@dataclass(frozen=True)
class Interval:
    """A value with its confidence interval (a difference between two models)."""

    label: str
    value: float
    low: float
    high: float


@dataclass
class _Svg:
    width: float
    height: float
    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, x: float, y: float, content: str, anchor: str = "start", size: int = FONT_SIZE, **extra) -> None:
        attributes = "".join(f' {key.replace("_", "-")}="{value}"' for key, value in extra.items())
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{attributes}>'
            f"{escape(content)}</text>"
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#888", **extra) -> None:
        attributes = "".join(f' {key.replace("_", "-")}="{value}"' for key, value in extra.items())
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{attributes}/>'
        )

    def rect(self, x: float, y: float, width: float, height: float, fill: str, tip: str = "") -> None:
        title = f"<title>{escape(tip)}</title>" if tip else ""
        self.parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" height="{max(height, 0):.1f}" '
            f'fill="{fill}">{title}</rect>'
        )

    def circle(self, x: float, y: float, radius: float, color: str, tip: str = "", filled: bool = True) -> None:
        paint = f'fill="{color}"' if filled else f'fill="none" stroke="{color}" stroke-width="2"'
        title = f"<title>{escape(tip)}</title>" if tip else ""
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:g}" {paint}>{title}</circle>')

    def render(self) -> str:
        self.width = max(self.width, text_width(self.title, 14) + 24)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" height="{self.height:.0f}" '
            f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" role="img" font-family="{escape(FONT)}">'
            f"<title>{escape(self.title)}</title>"
            f'<rect width="100%" height="100%" fill="#fff"/>'
            f'<text x="{self.width / 2:.1f}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
            f"{escape(self.title)}</text>" + "".join(self.parts) + "</svg>"
        )


def text_width(text: str, size: int = FONT_SIZE) -> float:
    """Estimated drawn width: a CJK character is about one em, other characters about 0.6 em."""
    return sum(size if is_cjk(char) else 0.6 * size for char in text)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high]."""
    span = high - low or 1.0
    step = 10 ** math.floor(math.log10(span / count))
    for factor in (1, 2, 2.5, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def _legend(svg: _Svg, labels: Sequence[str], x: float, y: float) -> None:
    for index, label in enumerate(labels):
        svg.rect(x, y + index * 18 - 10, 12, 12, PALETTE[index % len(PALETTE)])
        svg.text(x + 18, y + index * 18, label)


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], y_max: float = 1.0) -> str:
    """Grouped bars: one group per category, one bar per series, values from 0 to `y_max`."""
    legend_width = max((text_width(s.label) for s in series), default=0) + 40
    group_width = max(48.0, 16.0 * len(series) + 16)
    # labels are rotated 35 degrees to the left of their group: the first one needs room there
    first_label = text_width(categories[0]) * 0.82 if categories else 0.0
    left, top = max(48.0, first_label - group_width / 2 + 12), 36.0
    bottom = max([text_width(category) * 0.57 for category in categories] + [20.0]) + 24
    plot_width, plot_height = group_width * len(categories), 220.0
    svg = _Svg(left + plot_width + legend_width + 10, top + plot_height + bottom, title)

    def y_of(value: float) -> float:
        return top + plot_height * (1 - min(max(value, 0.0), y_max) / y_max)

    for tick in _ticks(0.0, y_max):
        svg.line(left, y_of(tick), left + plot_width, y_of(tick), stroke="#e5e5e5")
        svg.text(left - 6, y_of(tick) + 4, f"{tick:g}", anchor="end")
    bar = (group_width - 12) / max(len(series), 1)
    for group, category in enumerate(categories):
        x0 = left + group * group_width + 6
        for index, one in enumerate(series):
            value = one.values[group]
            svg.rect(
                x0 + index * bar,
                y_of(value),
                bar - 1,
                y_of(0) - y_of(value),
                PALETTE[index % len(PALETTE)],
                tip=f"{one.label} {category}: {value:.4f}",
            )
        middle = x0 + (group_width - 12) / 2
        svg.text(
            middle,
            top + plot_height + 14,
            category,
            anchor="end",
            transform=f"rotate(-35 {middle:.1f} {top + plot_height + 14:.1f})",
        )
    svg.line(left, y_of(0), left + plot_width, y_of(0), stroke="#444")
    _legend(svg, [s.label for s in series], left + plot_width + 16, top + 12)
    return svg.render()


def line_chart(title: str, x_label: str, y_label: str, lines: Sequence[Line]) -> str:
    """Curves over integer x (epochs), each with its marked point ringed and named."""
    points = [point for line in lines for point in line.points]
    legend_width = max((text_width(line.label) for line in lines), default=0) + 40
    left, top, bottom = 56.0, 36.0, 46.0
    plot_width, plot_height = 360.0, 220.0
    svg = _Svg(left + plot_width + legend_width + 10, top + plot_height + bottom, title)
    if not points:
        svg.text(left + plot_width / 2, top + plot_height / 2, "no data", anchor="middle")
        return svg.render()
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x_low, x_high = min(xs), max(max(xs), min(xs) + 1)
    margin = max((max(ys) - min(ys)) * 0.15, 0.01)
    y_low, y_high = max(0.0, min(ys) - margin), min(1.0, max(ys) + margin)

    def x_of(x: float) -> float:
        return left + plot_width * (x - x_low) / (x_high - x_low)

    def y_of(y: float) -> float:
        return top + plot_height * (1 - (y - y_low) / (y_high - y_low))

    for tick in _ticks(y_low, y_high):
        if y_low <= tick <= y_high:
            svg.line(left, y_of(tick), left + plot_width, y_of(tick), stroke="#e5e5e5")
            svg.text(left - 6, y_of(tick) + 4, f"{tick:.3g}", anchor="end")
    for tick in range(math.ceil(x_low), math.floor(x_high) + 1):
        svg.text(x_of(tick), top + plot_height + 16, str(tick), anchor="middle")
    svg.line(left, top + plot_height, left + plot_width, top + plot_height, stroke="#444")
    svg.text(left + plot_width / 2, top + plot_height + 36, x_label, anchor="middle")
    middle = top + plot_height / 2
    svg.text(14, middle, y_label, anchor="middle", transform=f"rotate(-90 14 {middle:.1f})")
    for index, line in enumerate(lines):
        color = PALETTE[index % len(PALETTE)]
        path = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in line.points)
        svg.parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in line.points:
            svg.circle(x_of(x), y_of(y), 3, color, tip=f"{line.label} epoch {x:g}: {y:.4f}")
            if x == line.marked:
                svg.circle(x_of(x), y_of(y), 8, color, filled=False)
                # stacked per line, so marks of close curves do not print over each other
                label_y = y_of(y) - 12 - 13 * index
                svg.text(x_of(x), label_y, f"{line.mark_label} {y:.3f}", anchor="middle", fill=color)
    _legend(svg, [line.label for line in lines], left + plot_width + 16, top + 12)
    return svg.render()


def interval_chart(title: str, intervals: Sequence[Interval], axis_label: str) -> str:
    """Each value as a dot with its interval as a whisker, beside a line at zero."""
    label_width = max((text_width(i.label) for i in intervals), default=0) + 16
    left, top, row = label_width + 8, 40.0, 30.0
    plot_width = 360.0
    svg = _Svg(left + plot_width + 24, top + row * len(intervals) + 40, title)
    extent = max([abs(v) for i in intervals for v in (i.low, i.high, i.value)] + [0.01]) * 1.15

    def x_of(x: float) -> float:
        return left + plot_width * (x + extent) / (2 * extent)

    bottom = top + row * len(intervals)
    for tick in _ticks(-extent, extent):
        svg.line(x_of(tick), top - 6, x_of(tick), bottom, stroke="#e5e5e5")
        svg.text(x_of(tick), bottom + 16, f"{tick:+.3g}" if tick else "0", anchor="middle")
    svg.line(x_of(0), top - 6, x_of(0), bottom, stroke="#444")
    svg.text(left + plot_width / 2, bottom + 34, axis_label, anchor="middle")
    for index, interval in enumerate(intervals):
        y = top + row * index + row / 2
        color = PALETTE[2] if interval.low > 0 else PALETTE[3] if interval.high < 0 else "#777"
        svg.text(left - 8, y + 4, interval.label, anchor="end")
        svg.line(x_of(interval.low), y, x_of(interval.high), y, stroke=color, stroke_width=3)
        tip = f"{interval.label}: {interval.value:+.4f} ({interval.low:+.4f} to {interval.high:+.4f})"
        svg.circle(x_of(interval.value), y, 5, color, tip=tip)
    return svg.render()


def hbar_chart(title: str, rows: Sequence[tuple[str, float]]) -> str:
    """Horizontal bars with their values: counts along a funnel."""
    label_width = max((text_width(label) for label, _ in rows), default=0) + 16
    left, top, row = label_width + 8, 36.0, 24.0
    plot_width = 320.0
    svg = _Svg(left + plot_width + 70, top + row * len(rows) + 10, title)
    largest = max([value for _, value in rows] + [1])
    for index, (label, value) in enumerate(rows):
        y = top + row * index
        svg.text(left - 8, y + 15, label, anchor="end")
        width = plot_width * value / largest
        svg.rect(left, y + 3, width, row - 6, PALETTE[index % len(PALETTE)], tip=f"{label}: {value:g}")
        svg.text(left + width + 6, y + 15, f"{value:g}")
    return svg.render()
