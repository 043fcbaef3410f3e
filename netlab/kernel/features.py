"""What the running kernel can do, read from /proc, /sys and /lib/modules (nothing is loaded:
loading a module would change the host)."""

from __future__ import annotations

import os
import platform

# feature -> (module name, a file that exists once it is loaded or built in)
FEATURES = {
    "ip_vs": ("ip_vs", "/proc/net/ip_vs"),
    "dummy": ("dummy", "/sys/module/dummy"),
}


def _module_available(module: str, release: str) -> bool:
    base = f"/lib/modules/{release}"
    try:
        with open(f"{base}/modules.builtin", encoding="utf-8") as f:
            if any(line.rstrip().endswith(f"/{module}.ko") for line in f):
                return True
    except OSError:
        pass
    try:
        with open(f"{base}/modules.dep", encoding="utf-8") as f:
            return any(line.split(":", 1)[0].rsplit("/", 1)[-1].startswith(f"{module}.ko")
                       for line in f)
    except OSError:
        return False


def missing(features: list[str], release: str | None = None) -> list[str]:
    """The FEATURES this kernel has neither loaded nor as a module it could load."""
    release = release or platform.release()
    out = []
    for name in features:
        module, marker = FEATURES[name]
        if os.path.exists(marker) or _module_available(module, release):
            continue
        out.append(name)
    return out


def loaded(features: list[str]) -> bool:
    """True when every one of FEATURES is in the running kernel now (loaded or built in)."""
    return all(os.path.exists(FEATURES[name][1]) for name in features)
