"""Which node a client's packet to a LoadBalancer address enters (no root): the node whose
MAC answers ARP now, asked through the fake kernel, whatever the election says.

Address plan: lab network 172.18.0.0/24, node1 .2 (MAC 0e:00:00:00:00:01), node2 .3
(0e:00:00:00:00:02), client laptop; the address 172.17.255.1.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from netlab.errors import NetlabError
from netlab.kernel.fake import FakeKernel
from netlab.lifecycle.tracing import arp_node
from netlab.model import NodeInfo

NODES = [NodeInfo(f"node{i}", i - 1, f"lab.node{i}", f"172.18.0.{i + 1}", f"lanv{i}",
                  f"10.244.{i - 1}.0/24", f"10.244.{i - 1}.1", "") for i in (1, 2)]
PLAN = SimpleNamespace(nodes=NODES)
IP = "172.17.255.1"


@pytest.fixture
def kernel():
    k = FakeKernel()
    k.tracing.macs = {(n.netns, "eth0"): f"0E:00:00:00:00:0{n.index + 1}" for n in NODES}
    return k


def test_the_node_whose_mac_answers_is_the_one_entered(kernel):
    kernel.tracing.arp[IP] = "0e:00:00:00:00:02"
    # the election said node1; node2 answers (a failover under way): node2 it is
    assert arp_node(kernel, PLAN, "lab.laptop", "client/laptop", "eth0", IP, "node1") == \
        ("node2", "0e:00:00:00:00:02")


def test_nobody_answering_names_the_elected_node(kernel):
    with pytest.raises(NetlabError, match="nobody answers ARP for 172.17.255.1 on "
                       "client/laptop's eth0 now: the lab's election names node1"):
        arp_node(kernel, PLAN, "lab.laptop", "client/laptop", "eth0", IP, "node1")
    with pytest.raises(NetlabError, match="no node announces it"):
        arp_node(kernel, PLAN, "lab.laptop", "client/laptop", "eth0", IP, "")


def test_an_answer_from_no_node_is_refused(kernel):
    kernel.tracing.arp[IP] = "0e:00:00:00:00:09"
    with pytest.raises(NetlabError, match="it is no node's"):
        arp_node(kernel, PLAN, "lab.laptop", "client/laptop", "eth0", IP, "node1")
