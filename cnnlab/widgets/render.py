"""The explorer's HTML: bar chart, difference, message. Plain strings, so an update stays fast."""

from __future__ import annotations

import html

from .. import fmt
from ..errors import ConfigError
from ..summary import Summary
from .compare import Diff

__all__ = [
    "chart_html",
    "diagram_html",
    "diagram_note_html",
    "diff_html",
    "greyed",
    "message_html",
    "static_diagram_html",
]

_BAR_PX = 180  # the longest bar
_TINT = "#fff3c4"  # as summary_html's highlighted rows
_CHART_STYLE = (
    "<style>.cnnlab-bars td,.cnnlab-bars th{padding:1px 6px;font-family:monospace;white-space:nowrap;"
    "text-align:left}.cnnlab-bars .bar{display:inline-block;height:10px;vertical-align:middle;"
    "margin-right:4px}</style>"
)


def chart_html(summary: Summary, baseline: Summary, highlight=()) -> str:
    """Params and MACs per layer as horizontal bars, on scales shared with the baseline so growth shows."""
    rows = [r for r in summary.rows if r.params or r.macs]
    both = [*rows, *baseline.rows]
    top_params = max((r.params for r in both), default=0) or 1
    top_macs = max((r.macs for r in both), default=0) or 1
    body = []
    for row in rows:
        tint = f' style="background:{_TINT}"' if row.name in highlight else ""
        body.append(
            f"<tr{tint}><td>{html.escape(row.name)}</td><td>{html.escape(row.kind)}</td>"
            f"<td>{_bar(row.params, top_params, '#4c78a8')}{fmt.count(row.params)}</td>"
            f"<td>{_bar(row.macs, top_macs, '#f58518')}{fmt.count(row.macs)}</td></tr>"
        )
    head = "<tr><th>layer</th><th>type</th><th>params</th><th>MACs</th></tr>"
    return f"{_CHART_STYLE}<table class='cnnlab-bars'><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _bar(value: int, top: int, color: str) -> str:
    width = max(1, round(_BAR_PX * value / top)) if value else 0
    return f'<span class="bar" style="width:{width}px;background:{color}"></span>'


def diff_html(diff: Diff, values: dict, baseline: dict) -> str:
    """The three totals against the baseline, under a line saying which controls differ from it."""
    changed = {k: v for k, v in values.items() if baseline.get(k) != v}
    if changed:
        title = f"Against the baseline ({_args({k: baseline.get(k) for k in changed})}), now {_args(changed)}"
    else:
        title = f"The baseline configuration{': ' if values else ''}{_args(values)}"
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in diff.lines())
    return f"<div class='cnnlab-diff'><b>{html.escape(title)}</b><ul style='margin:2px 0'>{lines}</ul></div>"


def _args(values: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def message_html(message: str) -> str:
    if not message:
        return ""
    return (
        "<div class='cnnlab-refusal' style='color:#a00;border-left:4px solid #a00;padding:2px 8px'>"
        f"<b>{ConfigError.title}:</b> {html.escape(message)}</div>"
    )


def greyed(fragment: str) -> str:
    """The last good output, shown faded while the current configuration cannot work."""
    return f"<div style='opacity:0.35' title='the last configuration that worked'>{fragment}</div>"


# The class of the static copy of an explorer's diagram (see Explorer._ipython_display_): the live widget's
# diagram carries the rule that hides it, so a page shows the copy only where no widget renders.
STATIC_CLASS = "cnnlab-static-diagram"
_DIAGRAM_BOX = "max-height:720px;overflow:auto;border-top:1px solid #dee2e6;margin-top:6px;padding-top:4px"


def diagram_html(svg: str, greyed_out: bool = False) -> str:
    """The live diagram, scrolled when tall (ResNet-152's is); faded while it is the last one that could be drawn."""
    inner = greyed(svg) if greyed_out else svg
    return f"<style>.{STATIC_CLASS}{{display:none}}</style><div class='cnnlab-live-diagram' style='{_DIAGRAM_BOX}'>{inner}</div>"


def diagram_note_html(text: str) -> str:
    """A sentence in place of the diagram (one the explorer could not draw)."""
    return f"<div class='cnnlab-live-diagram' style='color:#555;font-style:italic'>{html.escape(text)}</div>"


def static_diagram_html(svg: str) -> str:
    """The diagram as a plain output, for a saved notebook opened where the widget cannot render."""
    return f"<div class='{STATIC_CLASS}' style='{_DIAGRAM_BOX}'>{svg}</div>"
