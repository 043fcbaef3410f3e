"""All user-facing output goes through here, so ``-o json`` stays machine-readable."""

from __future__ import annotations

import json
import sys

import yaml
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_data(data: object, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=4) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def print_plain(text: str) -> None:
    sys.stdout.write(text + "\n")


def results_text(results: list, color: bool) -> str:
    """A kubectl-style table of results; under each row, what was run."""
    rows = [(r.result, r.check.name, r.where,
             r.summary + (f" -- {r.reason}" if r.reason else "")) for r in results]
    headers = ("RESULT", "CHECK", "FROM", "CAME BACK")
    widths = [max(len(x) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers[:3], widths, strict=False))
             + "   " + headers[3]]
    for r, row in zip(results, rows, strict=True):
        verdict = row[0].ljust(widths[0])
        if color:
            colour = {"PASS": "green", "FAIL": "red"}.get(r.result, "yellow")
            verdict = f"[{colour}]{verdict}[/]"
        lines.append("   ".join([verdict, *(c.ljust(w) for c, w in
                                            zip(row[1:3], widths[1:3], strict=False))])
                     + "   " + row[3])
        times = f"  (x{r.runs})" if r.runs > 1 else ""
        lines.append(" " * (widths[0] + 3) + f"ran: {r.command}{times}")
    return "\n".join(lines)


def counts_text(results: list) -> str:
    """'3 passed, 1 failed, 0 errors', as pytest counts."""
    n = {k: sum(r.result == k for r in results) for k in ("PASS", "FAIL", "ERROR")}
    return f"{n['PASS']} passed, {n['FAIL']} failed, {n['ERROR']} error" + \
        ("" if n["ERROR"] == 1 else "s")


def result_data(r) -> dict:
    return {"name": r.check.name, "from": r.where, "passed": r.passed,
            "result": r.result.lower(), "command": r.command,
            "summary": r.summary, "reason": r.reason}
