"""What every command on a running lab does first: finish off a change that was killed
(``recover.py``) and start the lab's controller again if it died. Both need the lab's lock,
taken only when there is something to do."""

from __future__ import annotations

from netlab.kernel.api import Kernel, real
from netlab.lifecycle.recover import recover_if_pending
from netlab.lifecycle.runtime import Runtime
from netlab.lifecycle.up import start_controller, stop_controller
from netlab.state import LabDir


def controller_alive(ld: LabDir, kernel: Kernel) -> bool:
    """Is the lab's latest controller process running?"""
    started = [e for e in ld.entries() if e.get("system") == "controller"]
    return bool(started) and kernel.processes.alive(started[-1]["pid"], started[-1]["start"])


def attend(lab: str, kernel: Kernel | None = None, ld: LabDir | None = None) -> list[str]:
    """Bring lab LAB back to a consistent, supervised state; what was done, in words."""
    kernel = kernel or real()
    ld = ld or LabDir(lab)
    if ld.load_state() is None:  # being built, or half built: nothing to attend to
        return []
    if not ld.change_pending() and controller_alive(ld, kernel):
        return []
    notes: list[str] = []
    ld.lock(wait_s=10, who="netlab (recovering the lab)")
    try:
        if ld.change_pending():
            stop_controller(ld, kernel)
            from netlab.lifecycle.query import load

            notes += recover_if_pending(lambda: Runtime(load(lab, ld), ld, kernel), ld, kernel)
        if not controller_alive(ld, kernel):
            start_controller(ld, kernel)
            notes.append("its controller had stopped: started it again")
    finally:
        ld.close()
    return notes
