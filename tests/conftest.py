"""Test-wide settings: tests marked `vm` need a kernel feature the host may lack (IPVS, dummy)
and run inside the VM that scripts/vm-test boots."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(items):
    from netlab.kernel import features

    if os.environ.get("NETLAB_IN_VM") == "1" or features.loaded(["ip_vs", "dummy"]):
        return
    for item in items:
        if item.get_closest_marker("vm"):
            item.add_marker(pytest.mark.skip(reason="this kernel has no IPVS or dummy "
                                                    "interfaces loaded: scripts/vm-test"))
