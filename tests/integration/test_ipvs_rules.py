"""The IPVS mode's ipsets and iptables rules load into a real kernel's netfilter (root).

IPVS itself is checked in the VM (tests/vm); the sets and rules need only ipset and iptables,
which this host has. Address plan: as in tests/test_ipvs_render.py.
"""

from __future__ import annotations

import os

import pytest

from netlab.kernel import netfilter
from netlab.kernel.ns import WORKER, netns_path, remove_nsfile
from netlab.kernel.run import run_in
from netlab.proxy import ipvs
from tests.test_ipvs_render import sync

pytestmark = pytest.mark.root


def test_ipsets_then_rules_load_in_one_transaction_each():
    name = f"netlab.ipvsrules{os.getpid()}"
    WORKER.create_netns(name)
    try:
        s = sync(vip_filter=True)
        r = run_in(name, ["ipset", "restore"], input=s.ipset_restore())
        assert r.returncode == 0, r.stderr
        flavour = netfilter.detect_flavour(name)
        netfilter.restore(name, flavour, ipvs.render_jumps(True) + s.iptables)
        saved = run_in(name, ["iptables-save"]).stdout
        assert "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set " \
               "KUBE-IPVS-IPS dst -j REJECT" in saved
        assert '-A INPUT -m comment --comment "kubernetes ipvs access filter" ' \
               "-j KUBE-IPVS-FILTER" in saved
        listed = run_in(name, ["ipset", "list", "KUBE-NODE-PORT-TCP"]).stdout
        assert "Type: bitmap:port" in listed and "30080" in listed
        # a second sync replaces the entries (flush + add in the same transaction)
        again = run_in(name, ["ipset", "restore"], input=s.ipset_restore())
        assert again.returncode == 0, again.stderr
    finally:
        remove_nsfile(netns_path(name))
