"""A lab's saved state file as the servers inside the lab read it: again only when it changed
(the cluster DNS and MetalLB's speakers follow the lab this way, as CoreDNS and MetalLB watch
the API server)."""

from __future__ import annotations

import json
import os


class StateWatch:
    def __init__(self, path: str) -> None:
        self.path = path
        self.mtime: float | None = None

    def changed(self) -> dict | None:
        """The state, when the file changed since the last read; None when it did not."""
        mtime = os.stat(self.path).st_mtime
        if mtime == self.mtime:
            return None
        with open(self.path, encoding="utf-8") as f:
            state = json.load(f)
        self.mtime = mtime
        return state

    def forget(self) -> None:
        """Read the file again next time (its last read could not be used)."""
        self.mtime = None
