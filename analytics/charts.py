"""Server-rendered SVG charts for the staff analytics pages: no JavaScript, no chart library.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` that say in words what it shows
(the text alternative); the pages put the same data in a table beside it. Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from config.formatting import clock

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 64, 16, 44
QUARTERS = ("start", "25 %", "50 %", "75 %", "end")
ACCENT, SECOND, GRID, INK = "#2563eb", "#d97706", "#d4d4d8", "#3f3f46"


def _html(template: str, *args: object) -> SafeString:
    """format_html with floats rounded to 0.1 px (format_html escapes first, so no format specs)."""
    return format_html(template, *(f"{a:.1f}" if isinstance(a, float) else a for a in args))


def nice_ticks(maximum: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Round tick values from 0 to at least `maximum` (1, 2, 2.5 or 5 times a power of ten);
    `whole` for counts, which get no fractional ticks."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if whole:
        step = max(1, math.ceil(step)) if step < 10 else step
    return [i * step for i in range(math.ceil(maximum / step - 1e-9) + 1)]


def _time_ticks(duration: int) -> list[int]:
    steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]
    step = next((s for s in steps if duration / s <= 8), 14_400)
    return list(range(0, duration + 1, step))


def _svg(
    *,
    title: str,
    desc: str,
    body: list[str],
    width: int = WIDTH,
    height: int = HEIGHT,
    cls: str = "",
    ident: str = "",
) -> SafeString:
    # `ident` names the title/desc ids: two charts of one kind on a page need different ones.
    ident = ident or cls
    head = _html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="wp-chart {}" viewBox="0 0 {} {}" width="{}" height="{}" '
        'role="img" aria-labelledby="{}-t {}-d" font-family="system-ui, sans-serif" font-size="12">'
        '<title id="{}-t">{}</title><desc id="{}-d">{}</desc>',
        cls,
        width,
        height,
        width,
        height,
        ident,
        ident,
        ident,
        title,
        ident,
        desc,
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 (every part built with format_html)


def _axes(
    *, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]], x_label: str, y_label: str
) -> list[str]:
    """Grid lines, tick labels and axis titles; tick positions are already in pixels."""
    parts: list[str] = []
    bottom = HEIGHT - BOTTOM
    for y, label in y_ticks:
        parts.append(
            _html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="1"/>'
                '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle" fill="{}">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                y,
                y,
                GRID,
                LEFT - 6,
                y,
                INK,
                label,
            )
        )
    for x, label in x_ticks:
        parts.append(
            _html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>',
                x,
                x,
                bottom,
                bottom + 4,
                INK,
                x,
                bottom + 17,
                INK,
                label,
            )
        )
    parts.append(
        _html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
            '<text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>'
            '<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" fill="{}">{}</text>',
            LEFT,
            WIDTH - RIGHT,
            bottom,
            bottom,
            INK,
            (LEFT + WIDTH - RIGHT) / 2,
            HEIGHT - 6,
            INK,
            x_label,
            (TOP + bottom) / 2,
            INK,
            y_label,
        )
    )
    return parts


def retention_chart(
    *,
    duration: int,
    shares: Sequence[float],
    members: int,
    step: int = 1,
    seconds: int | None = None,
    period: str = "all time",
    cls: str = "retention",
) -> SafeString:
    """Share of viewers (0-100 %) who watched each second of the video, over the video's time;
    `shares[i]` is the mean over seconds i*step to (i+1)*step (analytics.selectors.RetentionCurve.spans
    keeps them to RETENTION_POINTS, whatever the video's length) and `seconds` how many seconds
    they stand for (the last span may be shorter)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    title = f"Audience retention ({period})"
    if not shares or not members:
        return _svg(
            title=title,
            desc=f"No viewers in {period}." if period != "all time" else "No viewers yet.",
            cls=cls,
            body=[_html('<text x="{}" y="{}" fill="{}">No viewers yet.</text>', LEFT, HEIGHT / 2, INK)],
        )
    length = max(duration, seconds or len(shares) * step, 1)

    def x(second: float) -> float:
        return LEFT + plot_w * second / length

    def y(share: float) -> float:
        return TOP + plot_h * (1 - share)

    points = " ".join(f"{x(min((s + 0.5) * step, length)):.1f},{y(v):.1f}" for s, v in enumerate(shares))
    area = f"{x(0):.1f},{y(0):.1f} {points} {x(min(len(shares) * step, length)):.1f},{y(0):.1f}"
    quarter = [shares[min(len(shares) - 1, int(q * len(shares)))] for q in (0, 0.25, 0.5, 0.75)] + [shares[-1]]
    desc = (
        f"Share of the video's {members:,} viewers who watched each "
        + (f"second of its {clock(duration)}: " if step == 1 else f"{step} seconds of its {clock(length)} (mean): ")
        + ", ".join(f"{share:.0%} at {label}" for share, label in zip(quarter, QUARTERS, strict=True))
        + "."
    )
    body = _axes(
        x_ticks=[(x(t), clock(t)) for t in _time_ticks(length)],
        y_ticks=[(y(v / 100), f"{v:.0f} %") for v in range(0, 101, 25)],
        x_label="Position in the video (m:ss)",
        y_label="Viewers who watched (%)",
    )
    body.append(_html('<polygon points="{}" fill="{}" fill-opacity="0.12"/>', area, ACCENT))
    body.append(_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', points, ACCENT))
    return _svg(title=title, desc=desc, body=body, cls=cls)


def _watch_unit(maximum_seconds: int) -> tuple[float, str]:
    return (3600.0, "hours") if maximum_seconds >= 3 * 3600 else (60.0, "minutes")


def daily_chart(*, days: Sequence[date], views: Sequence[int], watch_seconds: Sequence[int]) -> SafeString:
    """Views per day (bars, left axis) and watch time per day (line, right axis)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    divisor, unit = _watch_unit(max(watch_seconds, default=0))
    watch = [w / divisor for w in watch_seconds]
    view_ticks = nice_ticks(max(views, default=0), whole=True)
    watch_ticks = nice_ticks(max(watch, default=0))
    n = max(len(days), 1)
    slot = plot_w / n

    def y(value: float, ticks: list[float]) -> float:
        return TOP + plot_h * (1 - value / ticks[-1])

    label_every = max(1, math.ceil(n / 10))
    x_ticks = [
        (LEFT + slot * (i + 0.5), day.strftime("%d %b")) for i, day in enumerate(days) if (n - 1 - i) % label_every == 0
    ]
    body = _axes(
        x_ticks=x_ticks,
        y_ticks=[(y(v, view_ticks), f"{v:g}") for v in view_ticks],
        x_label="Day (UTC)",
        y_label="Views",
    )
    for v in watch_ticks:
        body.append(
            _html(
                '<text x="{}" y="{}" dominant-baseline="middle" fill="{}">{}</text>',
                WIDTH - RIGHT + 6,
                y(v, watch_ticks),
                SECOND,
                f"{v:g}",
            )
        )
    body.append(
        _html(
            '<text transform="translate({} {}) rotate(90)" text-anchor="middle" fill="{}">Watch time ({})</text>',
            WIDTH - 12,
            (TOP + HEIGHT - BOTTOM) / 2,
            SECOND,
            unit,
        )
    )
    bar_w = max(1.0, slot * 0.7)
    for i, (day, count) in enumerate(zip(days, views, strict=True)):
        top = y(count, view_ticks)
        body.append(
            _html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} views</title></rect>',
                LEFT + slot * i + (slot - bar_w) / 2,
                top,
                bar_w,
                HEIGHT - BOTTOM - top,
                ACCENT,
                day.isoformat(),
                count,
            )
        )
    points = " ".join(f"{LEFT + slot * (i + 0.5):.1f},{y(w, watch_ticks):.1f}" for i, w in enumerate(watch))
    body.append(_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5"/>', points, SECOND))
    for i, w in enumerate(watch):
        body.append(
            _html('<circle cx="{}" cy="{}" r="2.5" fill="{}"/>', LEFT + slot * (i + 0.5), y(w, watch_ticks), SECOND)
        )
    legend_y = TOP + 4
    body.append(
        _html(
            '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" fill="{}">Views</text>'
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="2.5"/>'
            '<text x="{}" y="{}" fill="{}">Watch time ({})</text>',
            LEFT + 8,
            legend_y,
            ACCENT,
            LEFT + 22,
            legend_y + 9,
            INK,
            LEFT + 80,
            LEFT + 96,
            legend_y + 5,
            legend_y + 5,
            SECOND,
            LEFT + 100,
            legend_y + 9,
            INK,
            unit,
        )
    )
    if days:
        busiest = max(range(len(days)), key=lambda i: (views[i], i))
        desc = (
            f"Daily views and watch time from {days[0].isoformat()} to {days[-1].isoformat()}: "
            f"{sum(views):,} views and {sum(watch_seconds) / divisor:,.1f} {unit} in total; "
            f"busiest day {days[busiest].isoformat()} with {views[busiest]:,} views."
        )
    else:
        desc = "No days in the range."
    return _svg(title="Views and watch time per day", desc=desc, body=body, cls="daily")


def sparkline(*, values: Sequence[int], label: str, width: int = 120, height: int = 28) -> SafeString:
    """A tiny line of daily values, for tables; `label` is its text alternative."""
    top = max(values, default=0) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (height - 4) * v / top:.1f}" for i, v in enumerate(values))
    return _html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="wp-sparkline" viewBox="0 0 {} {}" width="{}" height="{}" '
        'role="img" aria-label="{}"><title>{}</title>'
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/></svg>',
        width,
        height,
        width,
        height,
        label,
        label,
        points,
        ACCENT,
    )
