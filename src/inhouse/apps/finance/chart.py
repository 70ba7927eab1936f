"""A chart of a query's result as SVG, from the result alone (no plotting library): the first column gives the x
axis, each numeric column after it a series; dates and numbers on x make a line chart, labels make bars. A
result without a numeric column, or with one row, has no chart."""

from __future__ import annotations

import datetime as dt
import decimal
from html import escape

from inhouse.apps.finance.tables import Result

W, H = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 30, 70
COLOURS = ("#2557d6", "#d6552b", "#2e8b57", "#8a5a00", "#6a32b8")


def _num(v) -> float | None:  # noqa: ANN001
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, decimal.Decimal)):
        return float(v)
    return None


def _label(v) -> str:  # noqa: ANN001
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d") if (v.hour, v.minute) == (0, 0) else v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, dt.date):
        return v.isoformat()
    f = _num(v)
    return f"{f:,.2f}".rstrip("0").rstrip(".") if f is not None else str(v)


def _tick(v: float) -> str:
    a = abs(v)
    return f"{v / 1e6:.1f}M" if a >= 1e6 else f"{v / 1e3:.1f}k" if a >= 1e4 else f"{v:,.0f}" if a >= 10 else f"{v:.2g}"


def chart_svg(result: Result, title: str = "") -> str | None:
    """The result as an SVG chart, or None when it has nothing to plot."""
    rows = result.rows[:60]
    if len(rows) < 2 or len(result.columns) < 2:
        return None
    series = [j for j in range(1, len(result.columns)) if all(_num(r[j]) is not None for r in rows)][:len(COLOURS)]
    if not series:
        return None
    line = all(isinstance(r[0], (dt.date, dt.datetime)) or _num(r[0]) is not None for r in rows)
    values = [_num(r[j]) or 0.0 for r in rows for j in series]
    lo, hi = min(0.0, *values), max(0.0, *values)
    hi = hi if hi > lo else lo + 1.0
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def y(v: float) -> float:
        return TOP + ph * (hi - v) / (hi - lo)

    def x(i: int) -> float:
        return LEFT + (pw * (i + 0.5) / len(rows))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="{LEFT}" y="18" font-size="13">{escape(title)}</text>',
           f'<line x1="{LEFT}" y1="{y(0):.1f}" x2="{W - RIGHT}" y2="{y(0):.1f}" stroke="#999"/>']
    for k in range(5):  # y ticks
        v = lo + (hi - lo) * k / 4
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#555">{_tick(v)}</text>')
        out.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{W - RIGHT}" y2="{y(v):.1f}" stroke="#eee"/>')
    step = max(1, len(rows) // 12)
    for i, r in enumerate(rows):  # x labels
        if i % step == 0:
            out.append(f'<text transform="translate({x(i):.1f},{H - BOTTOM + 14}) rotate(35)" fill="#333">'
                       f'{escape(_label(r[0])[:18])}</text>')
    for n, j in enumerate(series):
        colour = COLOURS[n]
        if line:
            points = " ".join(f"{x(i):.1f},{y(_num(r[j]) or 0.0):.1f}" for i, r in enumerate(rows))
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        else:
            bw = pw / len(rows) / (len(series) + 1)
            for i, r in enumerate(rows):
                v = _num(r[j]) or 0.0
                top, bottom = min(y(v), y(0)), max(y(v), y(0))
                out.append(f'<rect x="{x(i) - bw * len(series) / 2 + n * bw:.1f}" y="{top:.1f}" width="{bw:.1f}" '
                           f'height="{bottom - top:.1f}" fill="{colour}"><title>{escape(_label(r[0]))}: '
                           f'{escape(_label(r[j]))}</title></rect>')
        out.append(f'<text x="{W - RIGHT - 150}" y="{TOP + 14 * n}" fill="{colour}">'
                   f'{escape(result.columns[j])}</text>')
    out.append("</svg>")
    return "\n".join(out)
