"""The operator's page as HTML: a snapshot in, sections with inline SVG charts out.

Pure functions, no I/O: nothing loads from the internet (no fonts, no scripts but our own few
lines), so the page works with the network cut off.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape

from core.activity import PlanUse, Snapshot

REFRESH_SECONDS = 10
_WIDE = ("usage", "trouble")  # sections spanning the page's width
_COLOURS = ("#3b7dd8", "#e8833a", "#4aa564", "#c0504d", "#8064a2", "#4bacc6")
_CHART_W, _CHART_H, _PAD_L, _PAD_B, _PAD_T = 760, 220, 44, 26, 10

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;
color:#1d2430}
header{background:#1d2430;color:#fff;padding:10px 20px;display:flex;justify-content:space-between}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;padding:16px}
section{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px #0002}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 8px}h3{font-size:13px;margin:10px 0 4px;color:#555}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:2px 6px;
border-bottom:1px solid #eee;vertical-align:top}th{color:#666;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}.up{color:#2e7d32}.down{color:#c62828}
.muted{color:#888}.legend span{margin-right:14px}.swatch{display:inline-block;width:10px;
height:10px;margin-right:4px;border-radius:2px}svg text{font-size:10px;fill:#666}
.figure{font-size:22px;font-weight:600;margin-right:18px}
form{max-width:320px;margin:15vh auto;background:#fff;padding:20px;border-radius:6px;
box-shadow:0 1px 3px #0003}input{width:100%;box-sizing:border-box;padding:6px;margin:8px 0}
"""

# Our own few lines: refresh every section from /dashboard/data, keep the page as it is on error.
_SCRIPT = (
    "setInterval(async()=>{try{const r=await fetch('/dashboard/data',{credentials:'same-origin'});"
    "if(!r.ok)return;const d=await r.json();for(const[k,v]of Object.entries(d.sections)){"
    "const e=document.getElementById(k);if(e)e.innerHTML=v}}catch(e){}},"
    f"{REFRESH_SECONDS * 1000});"
)


def page(snapshot: Snapshot) -> str:
    """The whole page."""
    sections = "".join(
        f'<section id="{name}"{" class=wide" if name in _WIDE else ""}>{html}</section>'
        for name, html in render_sections(snapshot).items()
    )
    return _shell(
        "bridge",
        f"<header><strong>bridge</strong><span>v{escape(snapshot.setup.version)} · "
        f"refreshes every {REFRESH_SECONDS} s</span></header><main>{sections}</main>"
        f"<script>{_SCRIPT}</script>",
    )


def login_page(failed: bool) -> str:
    """The small form shown (with 401) to a visitor without the token."""
    note = '<p class="down">That token is not right.</p>' if failed else ""
    return _shell(
        "bridge: sign in",
        '<form method="post" action="/dashboard/login"><h2>bridge dashboard</h2>'
        f'{note}<label>Token<input type="password" name="token" autofocus '
        'autocomplete="current-password"></label><button type="submit">Sign in</button></form>',
    )


def render_sections(snapshot: Snapshot) -> dict[str, str]:
    """Each section's inner HTML by element id (the script swaps them in on refresh)."""
    return {
        "usage": _usage(snapshot),
        "now": _now(snapshot),
        "setup": _setup(snapshot),
        "trouble": _trouble(snapshot),
    }


def _shell(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _now(s: Snapshot) -> str:
    figures = (
        f'<p><span class="figure" data-figure="processes">{len(s.processes)}</span>processes '
        f'<span class="figure" data-figure="streaming">{s.streaming}</span>replies streaming '
        f'<span class="figure" data-figure="queues">{len(s.queues)}</span>channels with a queue</p>'
    )
    rows = "".join(
        f"<tr><td>{escape(p.name)}</td><td>{escape(p.role)}</td><td>{_parts(p.parts)}</td>"
        f'<td class="num">{p.streaming}</td><td>{_ago(s.at - p.started) if p.started else ""}</td>'
        "</tr>"
        for p in s.processes
    )
    processes = (
        "<table><tr><th>Process</th><th>Role</th><th>Parts</th><th class=num>Streaming</th>"
        f"<th>Up</th></tr>{rows}</table>"
        if rows
        else '<p class="muted">No process has reported in the last seconds.</p>'
    )
    queues = _pairs(list(s.queues.items())[:10], "Channel", "Open", "No queue anywhere.")
    paused = (
        "".join(
            f"<li><strong>{escape(b)}</strong> until {_clock(until)} ({_ago(until - s.at)})</li>"
            for b, until in s.paused.items()
        )
        or '<li class="muted">none</li>'
    )
    return (
        f"<h2>Now</h2>{figures}{processes}<h3>Queues</h3>{queues}"
        f"<h3>Paused by a quota</h3><ul>{paused}</ul>"
    )


def _parts(parts: Sequence[tuple[str, bool]]) -> str:
    return ", ".join(
        f'<span class="{"up" if up else "down"}">{escape(name)}</span>' for name, up in parts
    )


def _usage(s: Snapshot) -> str:
    legend = "".join(
        f'<span><i class="swatch" style="background:{_COLOURS[i % len(_COLOURS)]}"></i>'
        f'{escape(b)}: <strong class="total" data-backend="{escape(b)}">'
        f"{s.usage_total(b)}</strong></span>"
        for i, b in enumerate(s.usage)
    )
    chart = usage_chart(s.hours, s.usage)
    plans = _plans(s.plans, s.at)
    top = (
        '<div style="display:flex;gap:24px;flex-wrap:wrap"><div style="flex:1">'
        f"<h3>Top channels today</h3>"
        f"{_pairs(s.top.channels, 'Channel', 'Messages', 'None yet today.', 'top-channels')}"
        '</div><div style="flex:1"><h3>Top users today</h3>'
        f"{_pairs(s.top.users, 'User', 'Messages', 'None yet today.', 'top-users')}</div></div>"
    )
    return (
        f"<h2>Usage: messages sent upstream per hour, last {len(s.hours)} hours (UTC)</h2>"
        f'<p class="legend">{legend or "<span class=muted>No messages yet.</span>"}</p>'
        f"{chart}{plans}{top}"
    )


def usage_chart(hours: Sequence[int], usage: dict[str, list[int]]) -> str:
    """Stacked bars, one per hour, one colour per backend."""
    totals = [sum(counts[i] for counts in usage.values()) for i in range(len(hours))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = _CHART_W - _PAD_L - 8, _CHART_H - _PAD_B - _PAD_T
    slot = plot_w / max(len(hours), 1)
    parts = [
        f'<svg id="usage-chart" role="img" viewBox="0 0 {_CHART_W} {_CHART_H}" width="100%" '
        f'data-total="{sum(totals)}" aria-label="messages answered per hour">'
    ]
    for step in range(5):
        value = top * step / 4
        y = _PAD_T + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{_PAD_L}" x2="{_CHART_W - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{_PAD_L - 6}" y="{y + 3:.1f}" text-anchor="end">{value:g}</text>'
        )
    for i, hour in enumerate(hours):
        x = _PAD_L + i * slot
        base = 0
        for j, (backend, counts) in enumerate(usage.items()):
            n = counts[i]
            if not n:
                continue
            h = plot_h * n / top
            y = _PAD_T + plot_h - plot_h * base / top - h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{_COLOURS[j % len(_COLOURS)]}" '
                f'data-backend="{escape(backend)}" data-count="{n}">'
                f"<title>{escape(backend)} {_hour_label(hour)}: {n}</title></rect>"
            )
            base += n
        if hour % 6 == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{_CHART_H - 8}" text-anchor="middle">'
                f"{_hour_label(hour)}</text>"
            )
    parts.append(
        f'<line x1="{_PAD_L}" x2="{_CHART_W - 8}" y1="{_PAD_T + plot_h}" '
        f'y2="{_PAD_T + plot_h}" stroke="#999"/></svg>'
    )
    return "".join(parts)


def _plans(plans: Sequence[PlanUse], now: float) -> str:
    if not plans:
        return ""
    rows = "".join(
        f"<tr><td>{escape(p.backend)}</td><td>{escape(p.window)}</td>"
        f'<td class="num">{p.used} / {p.allowance}</td><td>{_bar(p.used, p.allowance)}</td>'
        f"<td>{_clock(p.runs_out) if p.runs_out is not None else 'lasts'}</td></tr>"
        for p in plans
    )
    return (
        "<h3>Plan use</h3><table><tr><th>Backend</th><th>Window</th><th>Used</th><th></th>"
        f"<th>Runs out</th></tr>{rows}</table>"
    )


def _bar(used: int, allowance: int) -> str:
    share = min(used / allowance, 1.0) if allowance > 0 else 1.0
    colour = "#c62828" if share >= 0.9 else "#e8833a" if share >= 0.7 else "#4aa564"
    return (
        f'<svg width="120" height="10"><rect width="120" height="10" fill="#eee"/>'
        f'<rect width="{120 * share:.0f}" height="10" fill="{colour}"/></svg>'
    )


def _trouble(s: Snapshot) -> str:
    counts = " ".join(
        f'<span>{escape(kind)}: <strong data-kind="{escape(kind)}">{n}</strong></span>'
        for kind, n in sorted(s.trouble_counts.items())
    )
    guard = "—" if s.invalid_requests is None else str(s.invalid_requests)
    rows = "".join(
        f'<tr><td title="{_clock(t.at)}">{_time(t.at)}</td><td>{escape(t.chat) or "—"}</td>'
        f"<td>{escape(t.kind)}</td>"
        f"<td>{escape(t.text)}</td></tr>"
        for t in s.trouble
    )
    table = (
        f"<table><tr><th>Time (UTC)</th><th>Chat</th><th>Kind</th><th>What</th></tr>{rows}</table>"
        if rows
        else '<p class="muted">Nothing went wrong lately.</p>'
    )
    return (
        f'<h2>Trouble</h2><p>429s: <strong data-figure="throttled">{s.throttled}</strong> · '
        f'invalid-request guard: <strong data-figure="invalid-requests">{guard}</strong></p>'
        f'<p class="legend">Today: {counts or "<span class=muted>none</span>"}</p>{table}'
    )


def _setup(s: Snapshot) -> str:
    setup = s.setup
    return (
        "<h2>Setup</h2>"
        f"<p>Version <strong>{escape(setup.version)}</strong> · language "
        f"<strong>{escape(setup.language)}</strong></p>"
        f"<h3>Bindings per backend</h3>"
        f"{_pairs(sorted(setup.bindings.items()), 'Backend', 'Channels', 'No channel bound.')}"
        f"<h3>Modes</h3>{_pairs(sorted(setup.modes.items()), 'Mode', 'Channels', 'All default.')}"
        f"<h3>Scopes</h3>"
        f"{_pairs(sorted(setup.scopes.items()), 'Scope', 'Channels', 'All default.')}"
    )


def _pairs(
    pairs: Sequence[tuple[str, int]], what: str, count: str, empty: str, ident: str = ""
) -> str:
    if not pairs:
        return f'<p class="muted">{escape(empty)}</p>'
    rows = "".join(f'<tr><td>{escape(k)}</td><td class="num">{n}</td></tr>' for k, n in pairs)
    attr = f' id="{ident}"' if ident else ""
    return f'<table{attr}><tr><th>{what}</th><th class="num">{count}</th></tr>{rows}</table>'


def _nice_max(value: int) -> float:
    """The chart's top: the first of 4, 8, 20, 40, 80, 200, … at least ``value``, so that its
    four grid steps are round numbers."""
    magnitude = 1
    while True:
        for top in (4, 8, 20):
            if top * magnitude >= value:
                return float(top * magnitude)
        magnitude *= 10


def _hour_label(hour: int) -> str:
    return time.strftime("%H:00", time.gmtime(hour * 3600))


def _clock(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))


def _time(when: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(when))


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
