"""The staff retention chart stays small whatever the stored curve's length (no database)."""

from __future__ import annotations

import re

from analytics.charts import retention_chart
from analytics.selectors import RETENTION_POINTS, RetentionCurve


def curve(seconds: int) -> RetentionCurve:
    return RetentionCurve(
        duration=0, members=4, viewers=[4 - s * 4 // seconds for s in range(seconds)], buckets=[], as_of=None
    )


def points(svg: str) -> int:
    found = re.search(r'<polyline points="([^"]*)"', svg)
    assert found is not None
    return len(found.group(1).split())


def test_a_day_long_curve_is_drawn_with_at_most_retention_points_spans_of_its_mean_viewers() -> None:
    day = curve(86_401)
    step, viewers = day.spans()
    assert len(viewers) <= RETENTION_POINTS
    assert step == 173  # ceil(86,401 / 500)
    assert viewers[0] == 4.0
    assert viewers[-1] == sum(day.viewers[-(86_401 % 173) :]) / (86_401 % 173)  # the last, shorter span
    svg = retention_chart(duration=0, shares=[day.share(v) for v in viewers], members=4, step=step, seconds=86_401)
    assert points(svg) == len(viewers)
    assert len(svg) < 20_000
    assert "24:00:00" in svg  # the time axis spans the stored day
    assert "each 173 seconds of its 24:00:01" in svg


def test_a_curve_of_at_most_retention_points_seconds_keeps_one_point_a_second() -> None:
    short = curve(RETENTION_POINTS)
    step, viewers = short.spans()
    assert step == 1
    assert viewers == [float(v) for v in short.viewers]
    svg = retention_chart(duration=RETENTION_POINTS, shares=[short.share(v) for v in viewers], members=4)
    assert points(svg) == RETENTION_POINTS
    assert "each second" in svg
