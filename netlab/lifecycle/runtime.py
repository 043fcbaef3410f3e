"""One lab being built, changed or run: its state, its folder and the kernel it works on."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from netlab.kernel.api import Kernel
from netlab.model import LabPlan, PodInfo
from netlab.model.state import LabState
from netlab.plan.naming import pod_file
from netlab.state import LabDir

Progress = Callable[[str, int, int], None]  # (step, done, total)
# the container launcher with netlab's built-in apps
LAUNCHER = (sys.executable, "-m", "netlab.apps.runner")
CONTROLLER = (sys.executable, "-m", "netlab.lifecycle.controller")


def no_progress(step: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class Paths:
    """Where a lab keeps what its containers need: files under its folder, cgroups under its
    own subtree."""

    lab: str  # the lab's folder
    cgroup: str  # the lab's cgroup

    @classmethod
    def of(cls, lab: str, kernel: Kernel) -> Paths:
        return cls(LabDir(lab).path, kernel.cgroups.lab_path(lab))

    @property
    def template(self) -> str:
        return f"{self.lab}/rootns"  # the template mount namespace's file

    @property
    def scratch(self) -> str:
        return f"{self.lab}/sandbox"  # where each container mounts its own scratch tmpfs

    @property
    def state(self) -> str:
        return f"{self.lab}/state.json"

    @property
    def system_cgroup(self) -> str:
        return f"{self.cgroup}/system"

    def pod_cgroup(self, pod: PodInfo) -> str:
        return f"{self.cgroup}/pods/{pod_file(pod.namespace, pod.name)}"

    def container_cgroup(self, pod: PodInfo, container: str) -> str:
        return f"{self.pod_cgroup(pod)}/{container}"

    def exit_file(self, pod: PodInfo, container: str) -> str:
        return f"{self.lab}/exits/{pod_file(pod.namespace, pod.name, container)}"

    def volume(self, pod: PodInfo, name: str) -> str:
        return f"{self.lab}/volumes/{pod_file(pod.namespace, pod.name)}/{name}"

    def etc(self, pod: PodInfo) -> str:
        return f"{self.lab}/etc/{pod_file(pod.namespace, pod.name)}"

    def log(self, pod: PodInfo, container: str) -> str:
        return f"{self.lab}/logs/{pod_file(pod.namespace, pod.name, container, keep='.log')}"


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

    @property
    def paths(self) -> Paths:
        return Paths(self.ld.path, self.kernel.cgroups.lab_path(self.ld.lab))
