"""One lab being built, changed or run: its state, its folder and the kernel it works on."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from netlab.kernel.api import Kernel
from netlab.model import LabPlan
from netlab.model.state import LabState
from netlab.state import LabDir

Progress = Callable[[str, int, int], None]  # (step, done, total)
# the container launcher with netlab's built-in apps
LAUNCHER = (sys.executable, "-m", "netlab.apps.runner")
CONTROLLER = (sys.executable, "-m", "netlab.lifecycle.controller")


def no_progress(step: str, done: int, total: int) -> None:
    pass


@dataclass
class Runtime:
    state: LabState
    ld: LabDir
    kernel: Kernel
    progress: Progress = no_progress
    clock: Callable[[], float] = field(default=time.time)

    @property
    def plan(self) -> LabPlan:
        return self.state.plan

    def event(self, key: str, type_: str, reason: str, message: str) -> None:
        self.state.event(key, type_, reason, message, self.clock())

    def save(self) -> None:
        self.ld.save_state(self.state)

    def host_uts(self, name: str) -> str:
        """The UTS namespace file of a node or client host."""
        return f"{self.ld.path}/uts/{name}"
