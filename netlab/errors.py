"""Exceptions with the exit codes the CLI maps them to.

Exit 2 means "bad input or unusable environment, nothing was created".
"""

from __future__ import annotations

import os


def script(name: str) -> str:
    """How to run one of netlab's scripts from anywhere: its real path when netlab runs from
    its folder (the usual install), so a hint can be pasted as it is."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "scripts", name)
    return path if os.path.exists(path) else f"scripts/{name} (in netlab's folder)"


def setup_command() -> str:
    return script("setup")


class NetlabError(Exception):
    """Something went wrong while running; the message says what to do."""

    exit_code = 1


class UsageError(NetlabError):
    """Bad input or an unusable environment, detected before any change (exit 2)."""

    exit_code = 2


class ScenarioError(UsageError):
    """A scenario document is invalid; names the file, the document and the field."""

    def __init__(self, message: str, *, file: str = "", doc: int | None = None,
                 field: str = "") -> None:
        self.file, self.doc, self.field, self.reason = file, doc, field, message
        where = []
        if file:
            where.append(file)
        if doc is not None:
            where.append(f"document {doc + 1}")
        if field:
            where.append(field)
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


class ScenarioErrors(ScenarioError):
    """Every error found in the documents, reported together (in one line)."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        first = errors[0]
        self.file, self.doc, self.field, self.reason = first.file, first.doc, first.field, \
            first.reason
        text = str(first) if len(errors) == 1 else \
            f"{len(errors)} errors: " + "; ".join(map(str, errors))
        UsageError.__init__(self, text)


class NotRootError(UsageError):
    def __init__(self) -> None:
        super().__init__("netlab must run as root: run it as root, or with sudo")


class MissingToolError(UsageError):
    def __init__(self, tool: str, package: str) -> None:
        super().__init__(f"required tool '{tool}' is not installed "
                         f"(apt-get install {package}, or run {setup_command()})")


class KernelFeatureError(NetlabError):
    """The running kernel lacks something the lab needs."""

    exit_code = 2
