"""One self-contained HTML file: styles inline, the lineage picture as base64, the JSON embedded.

Rendered by jinja2 with autoescape on, so every model name, prompt or licence text shows
as text (a ``<script>`` in a name stays visible, never runs). The report's JSON rides in a
``<script type="application/json" id="stillhouse-report">`` block with ``<``, ``>`` and
``&`` written as ``\\u003c`` etc., which is what ``verify-report`` reads back.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from audit.reports.lineage import render_lineage
from audit.reports.model import ReportData, flat_metrics

TEMPLATES = Path(__file__).parent / "templates"
_SCRIPT_ID = "stillhouse-report"


def embedded_json(data: ReportData) -> str:
    """The report JSON made safe to sit inside a <script> element."""
    text = json.dumps(data.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(data: ReportData, lineage_png: bytes | None = None) -> str:
    """The report as one HTML document (a string)."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    png = lineage_png if lineage_png is not None else render_lineage(data, "png")
    config = data.training.config if data.training else {}
    return env.get_template("report.html.j2").render(
        data=data,
        lineage_png=base64.b64encode(png).decode("ascii"),
        config_json=json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False, default=str),
        metric_rows=flat_metrics(data.metrics),
        report_json=Markup(embedded_json(data)),
    )


def extract_json(html: str) -> dict | None:
    """The embedded report JSON of an HTML report, or None when there is none."""
    start_tag = f'<script type="application/json" id="{_SCRIPT_ID}">'
    start = html.find(start_tag)
    if start < 0:
        return None
    end = html.find("</script>", start)
    try:
        return json.loads(html[start + len(start_tag) : end])
    except json.JSONDecodeError:
        return None
