"""Kernel features IPVS mode needs, checked inside scripts/vm-test's VM (marker vm).

Address plan: one namespace per test with a dummy kube-ipvs0 holding 10.96.0.10/32 and a
virtual service 10.96.0.10:80 with a real server 10.244.0.5:8080.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from netlab.kernel import features
from netlab.kernel.links import Netns
from netlab.kernel.ns import WORKER, netns_path, remove_nsfile

pytestmark = pytest.mark.vm  # kernel_ready (tests/conftest.py) loads the modules in the VM


def test_the_vm_kernel_has_ipvs_and_dummy():
    assert features.loaded(["ip_vs", "dummy"])


def test_dummy_interface_and_ipvs_service_in_a_namespace():
    name = f"netlab.vmtest{os.getpid()}"
    WORKER.create_netns(name)
    try:
        with Netns(name) as ns:
            ns.ipr.link("add", ifname="kube-ipvs0", kind="dummy")
            ns.add_address("kube-ipvs0", "10.96.0.10", 32)
        WORKER.call(lambda: _add_virtual_service(name))
        out = subprocess.run(["nsenter", f"--net={netns_path(name)}", "ipvsadm", "-Ln"],
                             capture_output=True, text=True, check=True).stdout
        assert "TCP  10.96.0.10:80 rr" in out
        assert "-> 10.244.0.5:8080              Masq" in out  # masquerade, as kube-proxy
    finally:
        remove_nsfile(netns_path(name))


def _add_virtual_service(netns: str) -> None:
    """In the namespace worker's thread (pyroute2 sockets stay in their thread)."""
    from pyroute2 import IPVS, IPVSDest, IPVSService

    from netlab.kernel.ns import CLONE_NEWNET, _check, _libc

    fd = os.open(netns_path(netns), os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns", netns)
    finally:
        os.close(fd)
    with IPVS() as ipvs:
        svc = IPVSService(addr="10.96.0.10", port=80, protocol=6, sched_name="rr")
        ipvs.service("add", service=svc)
        # fwd_method 0 is masquerade (NAT), the only mode kube-proxy uses
        ipvs.dest("add", service=svc,
                  dest=IPVSDest(addr="10.244.0.5", port=8080, fwd_method=0))
