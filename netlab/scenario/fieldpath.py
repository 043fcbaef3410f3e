"""Field paths and the errors of one document, as Kubernetes' validation builds them
(``apimachinery/pkg/util/validation/field``): a path grows with ``child``, ``index`` and
``key``; a loader adds every error it finds and goes on, so a document's errors are reported
all at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netlab.errors import ScenarioError


class Path:
    """spec.containers[0].ports[1].name"""

    __slots__ = ("_text",)

    def __init__(self, *names: str) -> None:
        self._text = ".".join(n for n in names if n)

    def child(self, *names: str) -> Path:
        p = Path()
        p._text = ".".join([self._text, *names]) if self._text else ".".join(names)
        return p

    def index(self, i: int) -> Path:
        p = Path()
        p._text = f"{self._text}[{i}]"
        return p

    def key(self, k: object) -> Path:
        p = Path()
        p._text = f"{self._text}[{k}]"
        return p

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Path({self._text!r})"


class Report:
    """The errors found in one document."""

    def __init__(self, file: str, index: int | None, label: str) -> None:
        self.file, self.index, self.label = file, index, label
        self.errors: list[ScenarioError] = []

    def add(self, path: Path | str, message: str) -> None:
        field = f"{self.label} {path}".strip() if str(path) else self.label
        self.errors.append(ScenarioError(message, file=self.file, doc=self.index, field=field))

    def check(self, path: Path | str, reason: str | None) -> bool:
        """Add REASON (a validator's answer) when there is one; True when there was none."""
        if reason:
            self.add(path, reason)
        return not reason

    def value(self, path: Path | str, value: Any, test: Callable[[Any], bool], message: str,
              default: Any) -> Any:
        """VALUE if TEST(VALUE), else DEFAULT after adding MESSAGE."""
        if test(value):
            return value
        self.add(path, message)
        return default
