"""The graph model as DOT text (pure), and Graphviz's ``dot`` turning it into SVG or PNG."""

from __future__ import annotations

import shutil
import subprocess

from netlab.errors import MissingToolError, NetlabError
from netlab.graph.model import Graph

STYLE = {  # kind -> node attributes
    "lan": 'shape=box, style="rounded,filled", fillcolor="#e8eef7"',
    "node": 'shape=box, style="filled", fillcolor="#f4f4f4"',
    "pod": 'shape=box, style="rounded,filled", fillcolor="#dff0d8"',
    "client": 'shape=box, style="rounded,filled", fillcolor="#fcf8e3"',
    "service": 'shape=box, style="filled", fillcolor="#d9edf7"',
    "ingress": 'shape=box, style="filled", fillcolor="#f2dede"',
    "address": 'shape=box, style="dashed"',
}
EDGE = {"link": 'arrowhead=none', "route": 'style=dotted, color="#777777", fontsize=9',
        "endpoint": 'color="#31708f"', "announce": 'color="#8a6d3b", style=bold',
        "ingress": 'color="#a94442"'}
HIGHLIGHT = 'color="#d9534f", penwidth=3'


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(lines: tuple[str, ...]) -> str:
    return _q("\\n".join(lines)).replace("\\\\n", "\\n")


def to_dot(g: Graph) -> str:
    """DOT text: each node a cluster holding its pods; highlighted boxes and the arrows between
    them drawn in red."""
    out = [f"digraph {_q('netlab ' + g.lab)} {{", "  rankdir=LR; compound=true;",
           '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", '
           'fontsize=9];']
    inside: dict[str, list] = {}
    for b in g.boxes:
        inside.setdefault(b.within, []).append(b)
    for b in inside.get("", []):
        if b.kind == "node":
            out.append(f"  subgraph {_q('cluster_' + b.id)} {{")
            out.append(f"    label={_label(b.label)}; style=filled; fillcolor=\"#f4f4f4\"; "
                       "fontsize=11;" + (" color=\"#d9534f\"; penwidth=3;"
                                         if b.id in g.highlight else ""))
            out.append(f"    {_q(b.id)} [label={_q('cni0 bridge')}, shape=ellipse];")
            for p in inside.get(b.id, []):
                extra = f", {HIGHLIGHT}" if p.id in g.highlight else ""
                out.append(f"    {_q(p.id)} [label={_label(p.label)}, {STYLE[p.kind]}{extra}];")
                out.append(f"    {_q(p.id)} -> {_q(b.id)} [arrowhead=none];")
            out.append("  }")
        else:
            extra = f", {HIGHLIGHT}" if b.id in g.highlight else ""
            out.append(f"  {_q(b.id)} [label={_label(b.label)}, {STYLE[b.kind]}{extra}];")
    for a in g.arrows:
        attrs = [EDGE[a.kind]]
        if a.label:
            attrs.append(f"label={_q(a.label)}")
        if a.dashed:
            attrs.append("style=dashed")
        if a.src in g.highlight and a.dst in g.highlight:
            attrs.append(HIGHLIGHT)
        out.append(f"  {_q(a.src)} -> {_q(a.dst)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def render(dot_text: str, fmt: str) -> bytes:
    """Graphviz's drawing of DOT_TEXT as FMT (svg or png)."""
    tool = shutil.which("dot")
    if tool is None:
        raise MissingToolError("dot", "graphviz")
    r = subprocess.run([tool, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                       timeout=60, check=False)
    if r.returncode != 0:
        raise NetlabError(f"dot -T{fmt} failed: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout
