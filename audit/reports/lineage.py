"""The lineage picture: teacher -> data -> student, with the licence on every edge.

Drawn with matplotlib (Agg canvas, no pyplot) from a ``ReportData``: teachers and the
prompt sets they answered on the left; the teacher's answers, other training data and the
student's base in the middle; the student on the right. Each arrow carries the licence under
which that input reached the student; held-out evaluation data is dashed ("eval only").

    png_bytes = render_lineage(data, "png")
    save_lineage(data, Path("lineage.svg"))
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple

from audit.reports.model import ReportData
from core.errors import InputError

_COLOURS = {
    "teacher": "#dbe8f6",
    "student_base": "#e8e8e8",
    "data": "#fdf1d6",
    "teacher_data": "#fdf1d6",
    "prompts": "#fdf1d6",
    "eval": "#f2f2f2",
    "student": "#dcefdc",
}
_VERDICT_EDGE = {"blocked": "#b3261e", "needs_review": "#b06000"}


_EVAL_ROLES = ("heldout", "eval", "evaluation", "test")


class _Node(NamedTuple):
    kind: str  # teacher, prompts, data, eval, student_base, student
    label: str
    licence: str


def _columns(data: ReportData) -> tuple[list[_Node], list[_Node], list[_Node]]:
    """(left, middle, right): teachers and prompt sets; teacher data, other data and base;
    student."""
    left = [_Node("teacher", m.name, m.license) for m in data.role("teacher")]
    middle: list[_Node] = []
    for d in data.datasets:
        if d.role == "prompts":
            left.append(_Node("prompts", d.name, d.license))
        else:
            kind = (
                "eval"
                if d.role in _EVAL_ROLES
                else ("teacher_data" if d.role == "teacher_data" else "data")
            )
            middle.append(_Node(kind, d.name, d.license))
    middle += [_Node("student_base", m.name, m.license) for m in data.role("student_base")]
    students = data.role("student")
    right = [_Node("student", s.name, s.license) for s in students] or [
        _Node("student", data.subject.model or "student (not recorded)", "unknown")
    ]
    return left, middle, right


def _targets(node: _Node, middle: list[_Node], boxes_m: list, boxes_r: list) -> list:
    """Where a left-hand node's arrows go: the teacher's answers, else the training data, else the
    student."""
    answers = [b for b, n in zip(boxes_m, middle, strict=True) if n.kind == "teacher_data"]
    training = [b for b, n in zip(boxes_m, middle, strict=True) if n.kind == "data"]
    if answers:
        return answers
    if node.kind == "teacher" and training:
        return training
    return boxes_r


def _positions(nodes: list, x: float) -> list[tuple[float, float]]:
    n = max(len(nodes), 1)
    return [(x, 1.0 - (i + 1) / (n + 1)) for i in range(len(nodes))]


def _box(ax, xy, kind: str, label: str, licence: str):
    """Draw one node; returns the text artist so arrows can attach to its box."""
    title = {
        "teacher": "teacher",
        "student_base": "student base",
        "data": "training data",
        "teacher_data": "teacher's answers",
        "prompts": "prompts",
        "eval": "evaluation data",
        "student": "student",
    }[kind]
    return ax.text(
        xy[0],
        xy[1],
        f"{title}\n{_short(label)}\n[{licence}]",
        ha="center",
        va="center",
        fontsize=8.5,
        zorder=3,
        bbox={"boxstyle": "round,pad=0.5", "fc": _COLOURS[kind], "ec": "#555555"},
    )


def _short(text: str, width: int = 26) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _edge(ax, source, target, licence: str, colour: str, dashed: bool = False) -> None:
    """An arrow from the right side of ``source``'s box to the left side of ``target``'s."""
    ax.annotate(
        "",
        xy=(0, 0.5),
        xycoords=target,
        xytext=(1, 0.5),
        textcoords=source,
        arrowprops={
            "arrowstyle": "-|>",
            "color": colour,
            "lw": 1.4,
            "shrinkA": 2,
            "shrinkB": 2,
            "linestyle": "--" if dashed else "-",
        },
        zorder=1,
    )
    (x0, y0), (x1, y1) = source.get_position(), target.get_position()
    ax.text(
        x0 + 0.45 * (x1 - x0),
        y0 + 0.45 * (y1 - y0) + 0.02,
        licence,
        ha="center",
        va="bottom",
        fontsize=7.5,
        color=colour,
        zorder=2,
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
    )


def render_lineage(data: ReportData, fmt: str = "png") -> bytes:
    """The picture as PNG or SVG bytes."""
    if fmt not in ("png", "svg"):
        raise InputError("bad_format", f"lineage picture format must be png or svg, not {fmt!r}")
    import matplotlib

    # SVG keeps text as text; names are plain text, never mathtext ('$' in a name crashed it)
    with matplotlib.rc_context({"svg.fonttype": "none", "text.parse_math": False}):
        return _draw(data, fmt)


def _draw(data: ReportData, fmt: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    left, middle, right = _columns(data)
    rows = max(len(left), len(middle), len(right), 1)
    fig = Figure(figsize=(10.0, 0.6 + 0.9 * rows), dpi=150)  # no pyplot: safe in app threads
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    colour = _VERDICT_EDGE.get(data.verdict.code, "#333333")
    xs = (0.1, 0.5, 0.9) if middle else (0.15, None, 0.85)
    boxes_l = [_box(ax, xy, *n) for n, xy in zip(left, _positions(left, xs[0]), strict=True)]
    boxes_m = [
        _box(ax, xy, *n) for n, xy in zip(middle, _positions(middle, xs[1] or 0), strict=True)
    ]
    boxes_r = [_box(ax, xy, *n) for n, xy in zip(right, _positions(right, xs[2]), strict=True)]
    fig.canvas.draw()  # lay the boxes out so arrows can attach to their edges
    for source, node in zip(boxes_l, left, strict=True):
        for target in _targets(node, middle, boxes_m, boxes_r):
            _edge(ax, source, target, node.licence, colour)
    for source, node in zip(boxes_m, middle, strict=True):
        for target in boxes_r:
            dashed = node.kind == "eval"
            _edge(
                ax,
                source,
                target,
                f"{node.licence} (eval only)" if dashed else node.licence,
                colour,
                dashed=dashed,
            )
    ax.set_title("Lineage: teacher -> data -> student (licence on each edge)", fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight")
    return buffer.getvalue()


def save_lineage(data: ReportData, path: Path) -> Path:
    """Write the picture; the format follows the file suffix (.png or .svg)."""
    from core.paths import atomic_file

    payload = render_lineage(data, Path(path).suffix.lstrip(".").lower())
    with atomic_file(Path(path), "wb") as handle:
        handle.write(payload)
    return Path(path)
