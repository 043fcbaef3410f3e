"""Kernel modules netlab needs: what the running kernel has now, what it could load, and the
one-line explanation when something is missing.

Reading changes nothing. Loading is ``scripts/setup``'s job only (``python -m
netlab.kernel.features load``, below): netlab itself never loads a module, because that would
change the host behind the user's back.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netlab.errors import script
from netlab.model import IPVS_SCHEDULERS

PRESENT, LOADABLE, ABSENT = "present", "loadable", "absent"


@dataclass(frozen=True)
class Module:
    name: str
    option: str  # the kernel configuration option that provides it
    purpose: str  # what netlab needs it for, in the words of an error message
    marker: str = ""  # a path that exists once it is in the kernel (loaded or built in)
    needs: str = ""  # a module it cannot work without (an IPVS scheduler needs ip_vs)


MODULES: dict[str, Module] = {m.name: m for m in (
    Module("br_netfilter", "CONFIG_BRIDGE_NETFILTER",
           "bridged pod traffic through iptables (net.bridge.bridge-nf-call-iptables)",
           "/proc/sys/net/bridge"),
    Module("ip_vs", "CONFIG_IP_VS", "proxyMode ipvs", "/proc/net/ip_vs"),
    # dummy has module parameters, so /sys/module/dummy exists even when it is built in
    Module("dummy", "CONFIG_DUMMY", "proxyMode ipvs", "/sys/module/dummy"),  # kube-ipvs0
    *(Module(f"ip_vs_{s}", f"CONFIG_IP_VS_{s.upper()}", "proxyMode ipvs", needs="ip_vs")
      for s in IPVS_SCHEDULERS),
)}

# What scripts/setup loads (where the kernel has them as modules) and keeps loaded at boot.
SETUP_MODULES = ("br_netfilter", "ip_vs", *(f"ip_vs_{s}" for s in IPVS_SCHEDULERS), "dummy")
# Options scripts/setup gives a module: loading dummy would otherwise create dummy0 in the
# root namespace (numdummies defaults to 1), a change to the host's interfaces.
MODULE_OPTIONS = {"dummy": ("numdummies=0",)}
MODULES_LOAD_FILE = "/etc/modules-load.d/netlab.conf"
MODPROBE_FILE = "/etc/modprobe.d/netlab.conf"


def _path(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _listed(root: str, release: str, index: str, module: str) -> bool | None:
    """Is MODULE in /lib/modules/RELEASE/INDEX? None when the index is not there."""
    try:
        with open(_path(root, f"/lib/modules/{release}/{index}"), encoding="utf-8") as f:
            return any(line.split(":", 1)[0].rsplit("/", 1)[-1].split(".ko")[0] == module
                       for line in f)
    except OSError:
        return None


def module_state(name: str, release: str | None = None, root: str = "/") -> str:
    """PRESENT (loaded or built in), LOADABLE (a module on disk for this kernel) or ABSENT.

    A module without a marker (the IPVS schedulers) that no index names counts as PRESENT
    when the kernel has no module index at all: nothing could be loaded anyway, and the
    kernel itself says so when IPVS asks for the scheduler."""
    release = release or platform.release()
    mod = MODULES[name]
    if mod.needs and module_state(mod.needs, release, root) == ABSENT:
        return ABSENT
    if (mod.marker and os.path.exists(_path(root, mod.marker))) or \
            os.path.exists(_path(root, f"/sys/module/{name}")):
        return PRESENT
    builtin = _listed(root, release, "modules.builtin", name)
    if builtin:
        return PRESENT
    if _listed(root, release, "modules.dep", name):
        return LOADABLE
    if not mod.marker and builtin is None:
        return PRESENT
    return ABSENT


def sysctl_exists(key: str, root: str = "/") -> bool:
    """Does the kernel offer sysctl KEY (net.ipv4.ip_forward)? Read in the root namespace:
    a sysctl a module provides appears there once the module is in the kernel."""
    return os.path.exists(_path(root, "/proc/sys/" + key.replace(".", "/")))


def loaded(names: Iterable[str]) -> bool:
    """True when every module of NAMES is in the running kernel now."""
    return all(module_state(n) == PRESENT for n in names)


def problem(states: Mapping[str, str], missing_sysctls: Sequence[tuple[str, str]],
            release: str, setup_command: str) -> str | None:
    """One line saying what is missing and the exact command that fixes it, or None.

    STATES: module -> PRESENT/LOADABLE/ABSENT; MISSING_SYSCTLS: (sysctl, module providing it)
    for sysctls the kernel does not offer although their module is present."""
    parts = []
    absent = [m for m, s in states.items() if s == ABSENT]
    loadable = [m for m, s in states.items() if s == LOADABLE]
    if absent:
        names = _and(f"{m} ({MODULES[m].option})" for m in absent)
        why = _and(dict.fromkeys(MODULES[m].purpose for m in absent))
        parts.append(f"this kernel ({release}) has no {names}, needed for {why}: use a kernel "
                     "built with it, or run the lab in a VM with Debian's stock kernel "
                     f"({script('vm-run')} --setup netlab up FILE; the tests: "
                     f"{script('vm-test')})")
    if loadable:
        names = _and(loadable)
        why = _and(dict.fromkeys(MODULES[m].purpose for m in loadable))
        it = "it" if len(loadable) == 1 else "them"
        parts.append(f"this kernel has not loaded {names}, needed for {why}: load {it} with "
                     f"'modprobe -a {' '.join(loadable)}', or run {setup_command} (which also "
                     f"keeps {it} loaded after a reboot)")
    for key, module in missing_sysctls:
        parts.append(f"this kernel does not offer the sysctl {key}"
                     + (f" although {module} is loaded" if module else ""))
    return "; ".join(parts) or None


def _and(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# -- scripts/setup only ------------------------------------------------------------------------


def load_for_setup(modules: Sequence[str] = SETUP_MODULES) -> list[str]:
    """Load MODULES where the kernel has them as modules and keep them loaded at boot (a file
    in /etc/modules-load.d, as kubeadm's install guide does). Returns the lines to print."""
    release = platform.release()
    states = {m: module_state(m, release) for m in modules}
    todo = [m for m, s in states.items() if s == LOADABLE]
    out = []
    loaded_now, failed = [], []
    for m in todo:  # one modprobe per module: options apply to the module they follow
        r = subprocess.run(["modprobe", m, *MODULE_OPTIONS.get(m, ())], capture_output=True,
                           text=True, check=False)
        (loaded_now if r.returncode == 0 else failed).append(m)
        if r.returncode != 0:
            out.append(f"could not load {m}: {r.stderr.strip()}")
    if loaded_now:
        out.append(f"loaded kernel modules: {_names(loaded_now)}")
    already = [m for m, s in states.items() if s == PRESENT]
    if already:
        out.append(f"already in the kernel: {_names(already)}")
    absent = [m for m, s in states.items() if s == ABSENT]
    if absent:
        out.append(f"not in this kernel ({release}): {_names(absent)}"
                   + (f" (proxyMode ipvs runs in a VM here: {script('vm-run')} --setup ...)"
                      if "ip_vs" in absent or "dummy" in absent else ""))
    on_disk = [m for m in modules if _listed("/", release, "modules.dep", m)]
    if on_disk:
        out += _persist(on_disk)
    return out


def _names(modules: Sequence[str]) -> str:
    """br_netfilter ip_vs ip_vs_{rr,wrr,sh} dummy"""
    scheds = [m.removeprefix("ip_vs_") for m in modules if m.startswith("ip_vs_")]
    out, done = [], False
    for m in modules:
        if not m.startswith("ip_vs_"):
            out.append(m)
        elif not done:
            out.append(f"ip_vs_{{{','.join(scheds)}}}" if len(scheds) > 1 else m)
            done = True
    return " ".join(out)


def _persist(modules: Sequence[str]) -> list[str]:
    files = {MODULES_LOAD_FILE: "# Loaded at boot for netlab (written by its scripts/setup)\n"
             + "".join(f"{m}\n" for m in modules)}
    options = [f"options {m} {' '.join(o)}\n" for m, o in MODULE_OPTIONS.items() if m in modules]
    if options:
        files[MODPROBE_FILE] = "# Written by netlab's scripts/setup\n" + "".join(options)
    written = []
    for path, text in files.items():
        try:
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    continue
        except OSError:
            pass
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            written.append(path)
        except OSError as exc:
            return [f"could not write {path} ({exc.strerror}): the modules stay loaded until "
                    "the next reboot only"]
    return [f"kept loaded after a reboot by {MODULES_LOAD_FILE}"] + \
        ([f"wrote {' and '.join(written)}"] if written else [])


def main(argv: list[str]) -> int:
    if argv[:1] != ["load"]:
        print("usage: python -m netlab.kernel.features load   (run by scripts/setup)",
              file=sys.stderr)
        return 2
    for line in load_for_setup():
        print(f"scripts/setup: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
