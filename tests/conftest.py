"""Test-wide settings.

Tests marked `vm` need a kernel feature the host may lack (IPVS, dummy interfaces) and run in
the VM that scripts/vm-test boots; tests marked `fresh_boot` need a kernel nobody has loaded
modules into yet, so they run there only, and first.
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).parents[1]
VM_LEFT = pytest.StashKey[int]()


def in_vm() -> bool:
    return os.environ.get("NETLAB_IN_VM") == "1"


def pytest_collection_modifyitems(config, items):
    from netlab.kernel import features

    items.sort(key=lambda item: not item.get_closest_marker("fresh_boot"))  # stable: first
    can_vm = in_vm() or features.loaded(["ip_vs", "dummy"])
    left = 0
    for item in items:
        if item.get_closest_marker("fresh_boot") and not in_vm():
            item.add_marker(pytest.mark.skip(reason="needs a freshly booted kernel: "
                                                    "scripts/vm-test"))
            left += 1
        elif item.get_closest_marker("vm") and not can_vm:
            item.add_marker(pytest.mark.skip(reason="this kernel has no IPVS or dummy "
                                                    "interfaces loaded: scripts/vm-test"))
            left += 1
    config.stash[VM_LEFT] = left


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    left = config.stash.get(VM_LEFT, 0)
    if left:
        terminalreporter.write_line(
            f"{left} test(s) were left for the VM: they need IPVS and dummy interfaces, which "
            "this kernel lacks, or a freshly booted kernel. Run them with scripts/vm-test "
            "(Debian's stock kernel under qemu); .ci/run does.", yellow=True, bold=True)


@pytest.fixture(scope="session")
def kernel_ready():
    """A machine after scripts/setup: the modules netlab needs are loaded. The VM boots with
    none of them, as a new workshop box does, so there this runs scripts/setup."""
    from netlab.kernel import features

    if features.loaded(["br_netfilter", "ip_vs", "dummy"]):
        return
    if not in_vm():
        pytest.skip("the kernel modules are not loaded: run scripts/setup")
    r = subprocess.run([str(ROOT / "scripts" / "setup")], capture_output=True, text=True,
                       check=False, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(autouse=True)
def _vm_tests_need_setup(request):
    if request.node.get_closest_marker("vm") and \
            not request.node.get_closest_marker("fresh_boot"):
        request.getfixturevalue("kernel_ready")
