"""Charts drawn on the server as SVG: no script, no build step, readable without colour.

Suppressed values (None) leave gaps in a line and an empty bar, never a zero."""

from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0b5cad", "#d9822b", "#2e8540", "#8f3fb3", "#c23934", "#5b6472", "#00838f")


def nice_max(value: float) -> int:
    """The smallest 1/2/5 x 10^n at or above value (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _svg_open(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    )


def _segments(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    segments, current = [], []
    for point in points:
        if point is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(point)
    if current:
        segments.append(current)
    return segments


def line_chart(
    *, days: list[date], series: list[tuple[str, list[int | None]]], title: str, width: int = 760, height: int = 240
) -> SafeString:
    left, right, top, bottom = 44, 12, 14, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_max(max([v for _, values in series for v in values if v is not None] or [0]))
    n = max(len(days) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * i / n

    def y(v: float) -> float:
        return top + plot_h * (1 - v / peak)

    parts = [_svg_open(width, height, title)]
    for k in range(5):
        value = peak * k / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>')
        label = f"{value:g}" if value != int(value) else f"{int(value)}"
        parts.append(f'<text class="axis" x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{label}</text>')
    step = max(1, round(len(days) / 8))
    for i, day in enumerate(days):
        if i % step == 0 or i == len(days) - 1:
            parts.append(f'<text class="axis" x="{x(i):.1f}" y="{height - 8}" text-anchor="middle">{day:%b %d}</text>')
    for index, (name, values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        points = [None if v is None else (x(i), y(v)) for i, v in enumerate(values)]
        for segment in _segments(points):
            if len(segment) == 1:
                cx, cy = segment[0]
                parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{color}"/>')
            else:
                coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in segment)
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"><title>{escape(name)}</title></polyline>'
                )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bar_chart(*, bars: list[tuple[str, int | None]], title: str, width: int = 760, row: int = 26) -> SafeString:
    """Horizontal bars with their values written beside them; a suppressed bar says so."""
    label_w, value_w = 110, 90
    height = row * len(bars) + 8
    peak = nice_max(max([v for _, v in bars if v is not None] or [0]))
    plot_w = width - label_w - value_w
    parts = [_svg_open(width, height, title)]
    for i, (label, value) in enumerate(bars):
        top = 4 + i * row
        parts.append(f'<text class="axis" x="{label_w - 8}" y="{top + row / 2 + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        if value is None:
            parts.append(f'<text class="axis muted" x="{label_w}" y="{top + row / 2 + 4:.1f}">suppressed</text>')
            continue
        bar = plot_w * value / peak
        parts.append(f'<rect class="bar" x="{label_w}" y="{top + 4}" width="{bar:.1f}" height="{row - 8}" rx="3"/>')
        parts.append(f'<text class="value" x="{label_w + bar + 6:.1f}" y="{top + row / 2 + 4:.1f}">{value}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def heat_alpha(value: int | None, peak: int) -> str:
    """Cell shade for the heatmap table (0.06-1.0), '' for suppressed cells."""
    if value is None:
        return ""
    if not value or not peak:
        return "0"
    return f"{0.12 + 0.88 * value / peak:.2f}"
