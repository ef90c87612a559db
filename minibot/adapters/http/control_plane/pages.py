"""The dashboard's HTML: one layout and a function per page, every value escaped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from minibot.adapters.http.control_plane.auth import CSRF_FIELD

_NAV = (
    ("/", "Overview"),
    ("/events", "Live"),
    ("/tasks", "Tasks"),
    ("/conversations", "Conversations"),
    ("/notes", "Notes"),
    ("/usage", "Usage"),
    ("/mcp", "MCP"),
    ("/chat", "Chat"),
    ("/settings", "Settings"),
)

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d2b3a;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center}
header a{color:#cfe3ff;text-decoration:none}header a.on{color:#fff;font-weight:600}
header form{margin-left:auto}main{padding:1em 1.5em;max-width:1100px}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5em 0 1.5em}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e6ea;vertical-align:top}
.ready{color:#137333}.degraded,.failed,.missed{color:#b3261e}.starting,.stopped{color:#8a6d00}
button{cursor:pointer}pre{background:#fff;padding:1em;overflow:auto}
#feed li{font-family:monospace;font-size:13px}.card{display:inline-block;background:#fff;
padding:.6em 1em;margin:0 .6em .6em 0;border:1px solid #e3e6ea}.card b{font-size:1.4em}
#chat{background:#fff;border:1px solid #e3e6ea;padding:1em;min-height:12em;max-height:60vh;
overflow:auto}.me{text-align:right}.me span,.bot span{display:inline-block;padding:.4em .7em;
margin:.2em 0;border-radius:.6em;white-space:pre-wrap}.me span{background:#d3e5ff}
.bot span{background:#eef0f2}.bot.draft span{opacity:.6}
.bot .buttons button{margin:.1em .3em .3em 0}
.bot img.reply-image{display:block;max-width:320px;max-height:320px;margin:.2em 0}
.bot audio{display:block;margin:.2em 0}.attach input{max-width:14em}
"""


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def layout(title: str, body: str, *, csrf: str, path: str) -> str:
    nav = "".join(
        f'<a href="{href}"{" class=on" if href == path else ""}>{label}</a>' for href, label in _NAV
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)} · minibot</title>
<meta name="csrf-token" content="{e(csrf)}">
<style>{_STYLE}</style>
<script src="/static/htmx.min.js"></script>
<script src="/static/dashboard.js" defer></script>
</head><body><header><b>minibot</b>{nav}
<form method="post" action="/logout">{csrf_field(csrf)}<button>Log out</button></form>
</header><main><h1>{e(title)}</h1>{body}</main></body></html>"""


def csrf_field(csrf: str) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{e(csrf)}">'


def login(error: str | None = None) -> str:
    message = f'<p class="failed">{e(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in · minibot</title>
<style>{_STYLE}</style></head><body><main><h1>minibot</h1>{message}
<form method="post" action="/login"><label>Token
<input type="password" name="token" autocomplete="current-password" autofocus></label>
<button>Log in</button></form></main></body></html>"""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, row_ids: bool = False) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def state(value: str) -> str:
    return f'<span class="{e(value)}">{e(value)}</span>'


def feed_list(events: Iterable[dict[str, Any]], *, live_url: str) -> str:
    items = "".join(f"<li>{e(_event_line(event))}</li>" for event in events)
    return f'<ul id="feed" data-live="{e(live_url)}">{items}</ul>'


def _event_line(event: dict[str, Any]) -> str:
    details = " ".join(
        f"{key}={value}" for key, value in event.items() if key not in ("id", "kind", "at")
    )
    return f"{event['at'][11:19]} {event['kind']} {details}"


def bar_chart(points: Sequence[tuple[str, float]], *, unit: str) -> str:
    """A bar per day, as inline SVG (no script needed)."""
    if not points:
        return "<p>No usage recorded yet.</p>"
    top = max(value for _, value in points) or 1.0
    width, height, gap = 28, 160, 6
    bars = []
    for index, (label, value) in enumerate(points):
        h = max(1, round(value / top * (height - 30)))
        x = index * (width + gap)
        bars.append(
            f'<rect x="{x}" y="{height - 20 - h}" width="{width}" height="{h}" fill="#3b7bd8">'
            f"<title>{e(label)}: {e(f'{value:.4f}')} {e(unit)}</title></rect>"
            f'<text x="{x}" y="{height - 5}" font-size="9">{e(label[5:])}</text>'
        )
    total_width = len(points) * (width + gap)
    return (
        f'<svg id="usage-chart" width="{total_width}" height="{height}" role="img" '
        f'aria-label="cost per day">{"".join(bars)}</svg>'
    )
