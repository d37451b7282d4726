"""Charts drawn on the server as SVG, written here (no chart library, no CDN):
bars (stacked) and lines over a row of labels. Colours come from CSS classes
(`s-<name>`), so they follow the page's theme, dark mode included; every
mark carries a <title> with its figure for hover and screen readers."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from dashboard import selectors

WIDTH = 720
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 34
# At most this many x labels are written; the others are left out evenly.
MAX_X_LABELS = 10
Y_TICKS = 4


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # the mark's class: s-<css>
    values: Sequence[float | None]  # one per label; None: no value (a gap in a line)


@dataclass(frozen=True)
class Chart:
    svg: SafeString
    legend: list[Series]

    @property
    def legend_html(self) -> SafeString:
        return format_html('<ul class="chart-legend">{}</ul>', format_html_join(
            "", '<li><span class="key s-{}" aria-hidden="true"></span>{}</li>',
            ((item.css, item.label) for item in self.legend)))


def plain_number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def short_duration(seconds: float) -> str:
    """An axis label: "45 s", "3 min", "1.5 h"."""
    if seconds < 120:
        return f"{plain_number(round(seconds, 1))} s"
    if seconds < 7200:
        return f"{plain_number(round(seconds / 60, 1))} min"
    return f"{plain_number(round(seconds / 3600, 1))} h"


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"


# Axis steps for durations (seconds): whole seconds, minutes and hours.
DURATION_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400,
                  21600, 43200, 86400)


def _nice_top(largest: float, steps: Sequence[float] = ()) -> float:
    """The axis top: Y_TICKS times the first of `steps` that reaches `largest`,
    else 1, 2, 2.5 or 5 times a power of ten."""
    if largest <= 0:
        return float(steps[0] * Y_TICKS) if steps else 1.0
    for step in steps:
        if step * Y_TICKS >= largest:
            return float(step * Y_TICKS)
    magnitude = 10 ** math.floor(math.log10(largest / Y_TICKS))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step * Y_TICKS >= largest:
            return step * Y_TICKS
    return largest


class _Frame:
    """The plot area: value and position to pixels, axes, grid and labels."""

    def __init__(self, labels: Sequence[str], top: float, y_format: Callable[[float], str]):
        self.labels = labels
        self.top = top
        self.y_format = y_format
        self.plot_width = WIDTH - LEFT - RIGHT
        self.plot_height = HEIGHT - TOP - BOTTOM
        self.slot = self.plot_width / max(1, len(labels))

    def y(self, value: float) -> float:
        return TOP + self.plot_height * (1 - min(value, self.top) / self.top)

    def x_center(self, index: int) -> float:
        return LEFT + self.slot * (index + 0.5)

    def axes(self) -> str:
        parts = []
        for tick in range(Y_TICKS + 1):
            value = self.top * tick / Y_TICKS
            y = self.y(value)
            parts.append(format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT, WIDTH - RIGHT, f"{y:.1f}", f"{y:.1f}", LEFT - 6, f"{y + 4:.1f}",
                self.y_format(value)))
        every = max(1, math.ceil(len(self.labels) / MAX_X_LABELS))
        for index, label in enumerate(self.labels):
            if index % every == 0:
                parts.append(format_html(
                    '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{self.x_center(index):.1f}", HEIGHT - BOTTOM + 16, label))
        parts.append(format_html('<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>',
                                 LEFT, WIDTH - RIGHT, TOP + self.plot_height,
                                 TOP + self.plot_height))
        return "".join(parts)


def _svg(title: str, body: str) -> SafeString:
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'
        "<title>{}</title>{}</svg>", WIDTH, HEIGHT, title, title, mark_safe(body))


def bar_chart(*, title: str, labels: Sequence[str], series: Sequence[Series],
              y_format: Callable[[float], str] = plain_number,
              hover: Sequence[str] | None = None) -> Chart:
    """Stacked bars, one per label, one segment per series (the first at the bottom).
    `hover`: each bar's words before its figures (default: its label)."""
    totals = [sum(item.values[index] or 0 for item in series) for index in range(len(labels))]
    frame = _Frame(labels, _nice_top(max(totals, default=0)), y_format)
    width = max(1.0, frame.slot * 0.7)
    bars = []
    for index, label in enumerate(labels):
        base = 0.0
        for item in series:
            value = item.values[index] or 0
            if not value:
                continue
            top, bottom = frame.y(base + value), frame.y(base)
            bars.append(format_html(
                '<rect class="s-{}" x="{}" y="{}" width="{}" height="{}">'
                "<title>{} · {}: {}</title></rect>",
                item.css, f"{frame.x_center(index) - width / 2:.1f}", f"{top:.1f}",
                f"{width:.1f}", f"{max(0.5, bottom - top):.1f}",
                hover[index] if hover else label, item.label, y_format(value)))
            base += value
    return Chart(svg=_svg(title, frame.axes() + "".join(bars)), legend=list(series))


def line_chart(*, title: str, labels: Sequence[str], series: Sequence[Series],
               y_format: Callable[[float], str] = plain_number,
               top: float | None = None, y_steps: Sequence[float] = ()) -> Chart:
    """A line per series over the labels, broken where a value is None, with a
    dot (and its figure as title) at every value; the last series on top."""
    values = [value for item in series for value in item.values if value is not None]
    frame = _Frame(labels, top or _nice_top(max(values, default=0), y_steps), y_format)
    marks = []
    for item in series:
        runs: list[list[str]] = [[]]
        for index, value in enumerate(item.values):
            if value is None:
                runs.append([])
                continue
            x, y = f"{frame.x_center(index):.1f}", f"{frame.y(value):.1f}"
            runs[-1].append(f"{x},{y}")
            marks.append(format_html(
                '<circle class="s-{}" cx="{}" cy="{}" r="3"><title>{} · {}: {}</title></circle>',
                item.css, x, y, labels[index], item.label, y_format(value)))
        marks.extend(format_html('<polyline class="line s-{}" points="{}"/>', item.css,
                                 " ".join(run)) for run in runs if len(run) > 1)
    return Chart(svg=_svg(title, frame.axes() + "".join(marks)), legend=list(series))




# --- the charts page ------------------------------------------------------------------

RESULT_CSS = {"recovered": "recovered", "failed": "failed", "stopped": "stopped",
              "ignored": "ignored", "under way": "underway"}


@dataclass(frozen=True)
class SegmentTimes:
    segment: str
    count: int
    chart: Chart


@dataclass(frozen=True)
class RecoveryCharts:
    days: int
    per_day: Chart | None  # None: nothing to draw
    success_rate: Chart | None
    overall_success: float | None
    ended: int  # recovered + failed in the window
    times: list[SegmentTimes]
    evacuations: Chart | None
    evacuated: int


def _recovery_time_chart(item: selectors.SegmentRecoveryTimes) -> Chart:
    return line_chart(
        title=f"Time to recover in {item.segment}, p50 and p95",
        labels=[day.strftime("%m-%d") for day, *_ in item.days],
        series=[Series("p95", "p95", [p95 for _, _, p95, _ in item.days]),
                Series("p50", "p50", [p50 for _, p50, _, _ in item.days])],
        y_format=short_duration, y_steps=DURATION_STEPS)


def recovery_charts(*, days: int) -> RecoveryCharts:
    """The charts page: four reads (selectors), each drawn or None when empty."""
    per_day = selectors.recoveries_per_day(days=days)
    labels = [day.day.strftime("%m-%d") for day in per_day]
    any_day = any(sum(day.counts.values()) for day in per_day)
    recovered = sum(day.counts["recovered"] for day in per_day)
    ended = recovered + sum(day.counts["failed"] for day in per_day)
    times = [SegmentTimes(segment=item.segment, count=item.count,
                          chart=_recovery_time_chart(item))
             for item in selectors.recovery_times(days=days)]
    moved = selectors.evacuations_per_recovery(days=days)
    return RecoveryCharts(
        days=days,
        per_day=bar_chart(
            title=f"Recoveries per day, last {days} days, by result", labels=labels,
            series=[Series(result, RESULT_CSS[result], [day.counts[result] for day in per_day])
                    for result in selectors.RESULTS],
            hover=[day.day.isoformat() for day in per_day]) if any_day else None,
        success_rate=line_chart(
            title=f"Success rate per day, last {days} days", labels=labels,
            series=[Series("recovered / (recovered + failed)", "rate",
                           [day.success_rate for day in per_day])],
            y_format=percent, top=1.0) if ended else None,
        overall_success=recovered / ended if ended else None, ended=ended,
        times=times,
        evacuations=bar_chart(
            title=f"Instances evacuated per host recovery, the last {len(moved)}",
            labels=[recovery.generated_time.strftime("%m-%d") for recovery in moved],
            series=[Series("moved", "recovered", [recovery.moved for recovery in moved]),
                    Series("not moved", "failed", [recovery.not_moved for recovery in moved])],
            hover=[f"{recovery.hostname} {recovery.generated_time:%Y-%m-%d %H:%M}"
                   for recovery in moved]) if moved else None,
        evacuated=sum(recovery.moved for recovery in moved),
    )
