"""A new workshop box, as its user meets it (issue 8): Debian's stock kernel freshly booted by
scripts/vm-test, with nothing loaded by hand.

Before scripts/setup, `netlab up` refuses with exit 2, naming the module and the command that
loads it, and creates nothing. scripts/setup loads the modules (without touching the root
namespace's interfaces) and keeps them loaded at boot; then the default lab and an IPVS lab
pass their checks through `netlab test`.

Address plan: the shipped scenarios' own (pods 10.244.0.0/16, services 10.96.0.0/12, lab
network 172.18.0.0/24), under lab names unique to this run.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from netlab.kernel import features
from netlab.kernel.ns import NETNS_RUN_DIR
from netlab.plan.naming import RUN_DIR
from tests.conftest import ROOT
from tests.integration.conftest import netlab, unique_name

pytestmark = [pytest.mark.vm, pytest.mark.fresh_boot]


def lab_file(tmp_path, scenario: str) -> tuple[str, str]:
    """A shipped scenario under a lab name unique to this run."""
    name = unique_name("fresh")
    text = (ROOT / "scenarios" / scenario).read_text()
    path = tmp_path / scenario
    path.write_text(re.sub(r"(kind: Lab\nmetadata:\n  name: )\S+", rf"\g<1>{name}", text,
                           count=1))
    return str(path), name


def created() -> set[str]:
    netns = set(os.listdir(NETNS_RUN_DIR)) if os.path.isdir(NETNS_RUN_DIR) else set()
    labs = {n for n in os.listdir(RUN_DIR) if os.path.isdir(os.path.join(RUN_DIR, n))} \
        if os.path.isdir(RUN_DIR) else set()
    return netns | labs


def root_links() -> str:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return "\n".join(line.split(":")[1].strip() for line in out.splitlines())


def test_fresh_boot_refuses_then_setup_makes_the_labs_work(tmp_path):
    assert not features.loaded(["br_netfilter"]), "this VM did not boot fresh"
    default, default_name = lab_file(tmp_path, "clusterip.yaml")
    ipvs, ipvs_name = lab_file(tmp_path, "ipvs.yaml")
    before = created()

    r = netlab("up", default)
    print("before scripts/setup, netlab up:", r.stderr, sep="\n")
    assert r.returncode == 2 and "Traceback" not in r.stdout + r.stderr
    assert "has not loaded br_netfilter" in r.stderr
    assert "'modprobe -a br_netfilter'" in r.stderr and "scripts/setup" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = netlab("up", ipvs)
    print("before scripts/setup, netlab up (IPVS):", r.stderr, sep="\n")
    assert r.returncode == 2 and "Traceback" not in r.stdout + r.stderr
    assert "'modprobe -a br_netfilter ip_vs ip_vs_rr dummy'" in r.stderr
    assert created() == before, "a refused up created something"

    links = root_links()
    r = subprocess.run([str(ROOT / "scripts" / "setup")], capture_output=True, text=True,
                       timeout=600)
    print("scripts/setup:", r.stdout, r.stderr, sep="\n")
    assert r.returncode == 0, r.stdout + r.stderr
    loaded = next(line for line in r.stdout.splitlines() if "loaded kernel modules:" in line)
    for module in ("br_netfilter", "ip_vs ", "ip_vs_{rr,", "dummy"):
        assert module in loaded + " ", loaded
    assert features.loaded(["br_netfilter", "ip_vs", "ip_vs_rr", "dummy"])
    assert root_links() == links, "loading the modules changed the root namespace's links"
    with open(features.MODULES_LOAD_FILE) as f:
        persisted = f.read().split()
    assert {"br_netfilter", "ip_vs", "ip_vs_rr", "dummy"} <= set(persisted)

    r = netlab("test", default, timeout=900)
    print("netlab test (default lab):", r.stdout, r.stderr, sep="\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 passed, 0 failed, 0 errors" in r.stdout
    r = netlab("test", ipvs, timeout=900)
    print("netlab test (IPVS lab):", r.stdout, r.stderr, sep="\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed, 0 failed, 0 errors" in r.stdout
    assert not {default_name, ipvs_name} & created()
