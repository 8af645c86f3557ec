"""The viewer's inline SVG figures: the daily chart, the 30-day session strip, small bars.

Figures carry their own `<title>` and `<desc>` and are readable without colour: suppressed
days are hatched and labelled, the current session is ringed and labelled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from session_events.viewer.text import (
    count,
    instant,
    num,
    parse_day,
    session_href,
    short_day,
    text,
    when,
)

Row = Mapping[str, Any]

STRIP_DAYS = 30


def mini_bar(value: object, largest: float, label: str) -> str:
    """A small horizontal bar for a table cell, its length proportional to `value`."""
    width = 0.0 if largest <= 0 else 80.0 * count(value) / largest
    return (
        f'<svg class="bar" width="84" height="10" viewBox="0 0 84 10" role="img" '
        f'aria-label="{text(label)}"><rect x="0" y="1" width="84" height="8" rx="2" '
        f'fill="#eef0f4"/><rect x="0" y="1" width="{width:.1f}" height="8" rx="2" '
        'fill="#6366f1"/></svg>'
    )


def legend_swatch(fill: str, stroke: str = "none") -> str:
    return (
        '<svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">'
        f'<rect x="0.5" y="0.5" width="13" height="13" rx="2" fill="{fill}" stroke="{stroke}"/>'
        "</svg>"
    )


HATCH_DEFS = (
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f8fafc"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#aab6c6" stroke-width="1.6"/></pattern></defs>'
)


def _nice_step(largest: float, ticks: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) that covers `largest` in ~`ticks`."""
    if largest <= 0:
        return 1.0
    raw = largest / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return max(1.0, factor * power)
    return max(1.0, 10.0 * power)


# -- the daily chart -----------------------------------------------------------------------


def daily_chart(daily: Sequence[Row], k: int) -> str:
    """Grouped bars of identities and sessions per day; suppressed days hatched and labelled."""
    rows = sorted(daily, key=lambda row: str(row.get("day", "")))
    width, height = 960, 260
    left, right, top, bottom = 52, 58, 18, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    largest = max(
        [float(k)]
        + [count(row.get("identities")) for row in rows]
        + [count(row.get("sessions")) for row in rows]
    )
    step = _nice_step(largest)
    ceiling = step * math.ceil(largest / step)

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / ceiling

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="daily-title daily-desc">',
        '<title id="daily-title">Distinct identities and sessions per day</title>',
        f'<desc id="daily-desc">{len(rows)} days. Dark bars: identities; light bars: sessions; '
        f"hatched: fewer than {k} identities that day (suppressed).</desc>",
        HATCH_DEFS,
    ]
    tick = 0.0
    while tick <= ceiling + 1e-9:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="{"#cbd5e1" if tick == 0 else "#eef0f4"}"/>'
            f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:,.0f}</text>'
        )
        tick += step
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{y(k):.1f}" y2="{y(k):.1f}" '
        'stroke="#b45309" stroke-dasharray="4 3"/>'
        f'<text x="{width - right + 6}" y="{y(k) + 4:.1f}" '
        f'style="fill:#b45309">K = {k}</text>'
    )
    slot = plot_w / max(len(rows), 1)
    label_every = max(1, math.ceil(len(rows) / 10))
    for index, row in enumerate(rows):
        x0 = left + index * slot
        bar = max(1.0, slot * 0.36)
        gap = (slot - 2 * bar) / 2
        day = text(row.get("day", ""))
        identities, sessions = row.get("identities"), row.get("sessions")
        if row.get("suppressed"):
            known = identities is not None
            tip = f"{day}: fewer than {k} identities, suppressed" + (
                f" ({num(identities)} identities, {num(sessions)} sessions)" if known else ""
            )
            # The whole column is hatched: the day is masked, whatever the scale of the others.
            parts.append(
                f'<g class="day suppressed" data-day="{day}"><title>{tip}</title>'
                f'<rect x="{x0 + gap:.1f}" y="{top}" width="{2 * bar:.1f}" '
                f'height="{plot_h}" fill="url(#hatch)" stroke="#cbd5e1"/>'
            )
            if slot >= 16:
                parts.append(
                    f'<text x="{x0 + slot / 2:.1f}" y="{top + 12}" '
                    f'text-anchor="middle">&lt;K</text>'
                )
            parts.append("</g>")
        else:
            ident_v, sess_v = count(identities), count(sessions)
            parts.append(
                f'<g class="day" data-day="{day}"><title>{day}: {num(identities)} identities, '
                f"{num(sessions)} sessions</title>"
                f'<rect class="identities" x="{x0 + gap:.1f}" y="{y(ident_v):.1f}" '
                f'width="{bar:.1f}" height="{y(0) - y(ident_v):.1f}" fill="#3730a3"/>'
                f'<rect class="sessions" x="{x0 + gap + bar:.1f}" y="{y(sess_v):.1f}" '
                f'width="{bar:.1f}" height="{y(0) - y(sess_v):.1f}" fill="#a5b4fc"/></g>'
            )
        parsed = parse_day(row.get("day"))
        if (len(rows) - 1 - index) % label_every == 0:  # counted back from the latest day
            tick_label = short_day(parsed) if parsed else day
            parts.append(
                f'<text x="{x0 + slot / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{tick_label}</text>'
            )
    parts.append("</svg>")
    legend = (
        '<div class="legend">'
        f"<span>{legend_swatch('#3730a3')}Identities (distinct)</span>"
        f"<span>{legend_swatch('#a5b4fc')}Sessions (≤ 20 per identity a day)</span>"
        f"<span>{legend_swatch('url(#hatch)', '#94a3b8')}Fewer than K = {k} identities "
        "(suppressed)</span>"
        '<span><svg width="18" height="14" aria-hidden="true"><line x1="0" x2="18" y1="7" '
        'y2="7" stroke="#b45309" stroke-dasharray="4 3"/></svg>Threshold K</span></div>'
    )
    return "".join(parts) + legend


def radius(tool_count: object, largest: float) -> float:
    """A circle's radius for a tool count: area proportional to the count, 4 to 22 px."""
    if largest <= 0:
        return 4.0
    return 4.0 + 18.0 * math.sqrt(min(count(tool_count), largest) / largest)


def session_strip(session: Row, related: Sequence[Row]) -> str:
    """The identity's sessions over the 30 days up to this one, sized by tool count."""
    end = instant(session.get("ended_at"))
    width, height = 960, 150
    left, right, axis_y = 24, 24, 96
    plot_w = width - left - right
    if end is None:
        return '<p class="empty">This session has no usable end time to draw.</p>'
    start = end - timedelta(days=STRIP_DAYS)

    def x(moment: datetime) -> float:
        share = (moment - start) / (end - start)
        return left + plot_w * min(max(share, 0.0), 1.0)

    everyone = [session, *related]
    largest = max(count(row.get("tool_count")) for row in everyone)
    parts = [
        f'<svg class="chart strip" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="strip-title strip-desc">',
        '<title id="strip-title">This identity\'s sessions over 30 days</title>',
        f'<desc id="strip-desc">{len(related)} earlier sessions and this one on a time axis; '
        "circle area grows with tool count; this session is ringed and labelled.</desc>",
        f'<line x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}" stroke="#cbd5e1"/>',
    ]
    for back in range(STRIP_DAYS + 1):
        tick_x = x(end - timedelta(days=back))
        major = back % 5 == 0
        parts.append(
            f'<line x1="{tick_x:.1f}" x2="{tick_x:.1f}" y1="{axis_y}" '
            f'y2="{axis_y + (8 if major else 4)}" stroke="#cbd5e1"/>'
        )
        if major:
            label = "this session" if back == 0 else f"\N{MINUS SIGN}{back} d"
            stamp = short_day(end - timedelta(days=back))
            anchor = "end" if back == 0 else ("start" if back == STRIP_DAYS else "middle")
            parts.append(
                f'<text x="{tick_x:.1f}" y="{axis_y + 22}" text-anchor="{anchor}">{stamp}</text>'
                f'<text x="{tick_x:.1f}" y="{axis_y + 36}" text-anchor="{anchor}">{label}</text>'
            )
    drawn = []
    for row in related:
        if row.get("session_id_hash") == session.get("session_id_hash"):
            continue
        moment = instant(row.get("ended_at"))
        if moment is not None:
            drawn.append((radius(row.get("tool_count"), largest), moment, row))
    # Larger circles first, so the smaller ones stay visible and clickable on top.
    for size, moment, row in sorted(drawn, key=lambda item: -item[0]):
        tip = (
            f"{when(row.get('ended_at'))}: {num(row.get('tool_count'))} tools, "
            f"{num(row.get('tokens_saved'))} tokens saved"
        )
        parts.append(
            f'<a class="related" href="{text(session_href(row.get("session_id_hash", "")))}">'
            f"<title>{tip}</title>"
            f'<circle cx="{x(moment):.1f}" cy="{axis_y - 30}" r="{size:.2f}" '
            f'data-tool-count="{num(row.get("tool_count"))}" fill="#a5b4fc" '
            'fill-opacity="0.75" stroke="#3730a3" stroke-width="1"/></a>'
        )
    size = radius(session.get("tool_count"), largest)
    cx, cy = x(end), axis_y - 30
    parts.append(
        f'<g class="current" aria-current="page"><title>This session, '
        f"{when(session.get('ended_at'))}: {num(session.get('tool_count'))} tools, "
        f"{num(session.get('tokens_saved'))} tokens saved</title>"
        f'<circle cx="{cx:.1f}" cy="{cy}" r="{size + 5:.2f}" fill="none" stroke="#b45309" '
        'stroke-width="2" stroke-dasharray="3 2"/>'
        f'<circle cx="{cx:.1f}" cy="{cy}" r="{size:.2f}" '
        f'data-tool-count="{num(session.get("tool_count"))}" fill="#3730a3" stroke="#0f172a"/>'
        # The label sits above every circle (radius at most 22), on a leader to the ring.
        f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{cy - 34}" y2="{cy - size - 5:.1f}" '
        'stroke="#b45309"/>'
        f'<text class="lbl" x="{cx + 6:.1f}" y="{cy - 38}" text-anchor="end">'
        "This session</text></g></svg>"
    )
    legend = (
        '<div class="legend"><span><svg width="14" height="14" aria-hidden="true">'
        '<circle cx="7" cy="7" r="6" fill="#a5b4fc" stroke="#3730a3"/></svg>'
        "Earlier session (links to its page)</span>"
        '<span><svg width="18" height="18" aria-hidden="true"><circle cx="9" cy="9" r="5" '
        'fill="#3730a3"/><circle cx="9" cy="9" r="8" fill="none" stroke="#b45309" '
        'stroke-dasharray="3 2"/></svg>This session (ringed)</span>'
        f"<span>Circle area ∝ tool count (largest: {num(int(largest))})</span></div>"
    )
    return "".join(parts) + legend
