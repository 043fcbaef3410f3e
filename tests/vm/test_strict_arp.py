"""IPVS mode and MetalLB's layer 2 (issue 12): every node holds a LoadBalancer address on
kube-ipvs0, so without kube-proxy's strictARP every node answers ARP for it (the conflict
behind MetalLB's strictARP requirement, metallb#153); with strictARP only the elected
speaker's node does. In scripts/vm-test's VM (IPVS and dummy interfaces).

Address plan: nodes 172.18.0.2/.3, client host laptop 172.18.0.254; pool 172.17.255.0/24
reached on-link from the laptop; web-svc-lb at 172.17.255.1.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from netlab.plan import naming
from tests.helpers import deployment, lab_doc
from tests.integration.conftest import in_ns

pytestmark = pytest.mark.vm

METALLB = textwrap.dedent("""
    apiVersion: v1
    kind: ConfigMap
    metadata: {namespace: metallb-system, name: config}
    data:
      config: |
        address-pools:
        - name: default
          protocol: layer2
          addresses: [172.17.255.0/24]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-svc-lb}
    spec:
      type: LoadBalancer
      loadBalancerIP: 172.17.255.1
      selector: {app: web}
      ports: [{port: 80, targetPort: 8000}]
    """)


def lab(strict: bool) -> str:
    return lab_doc(nodes=("node1", "node2"), clients=("laptop",)).replace(
        "routing: host-gw", "routing: host-gw\n  proxyMode: ipvs\n"
        f"  ipvs: {{strictARP: {'true' if strict else 'false'}}}\n"
        "  loadBalancer: {clientRoutes: [172.17.255.0/24]}")


@pytest.mark.parametrize("strict", [False, True])
def test_strict_arp_decides_how_many_nodes_answer(make_lab, strict):
    plan = make_lab(lab(strict), deployment(replicas=2), METALLB)
    laptop = naming.client_netns(plan.spec.name, "laptop")
    out = in_ns(laptop, "arping", "-c", "3", "-w", "4", "-I", "eth0", "172.17.255.1",
                timeout=10).stdout
    macs = set(re.findall(r"\[([0-9A-F:]{17})\]", out))
    assert len(macs) == (1 if strict else 2), out
    r = in_ns(laptop, "curl", "-s", "-m", "3", "http://172.17.255.1/")
    assert r.stdout.startswith("Hostname: web-"), r.stdout + r.stderr
