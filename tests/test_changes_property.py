"""A change touches only what it changes: random sequences of apply, delete and scale against
the fake kernel (no root). After every change the kernel holds exactly the pods the state
shows, wired as planned, and every pod that stays keeps its node, address and process.

Address plan: three nodes (pods 10.244.0.0/24, 10.244.1.0/24, 10.244.2.0/24), Deployment web
behind web-svc-cip 10.96.0.100, plain pods p0.. on any node, Services s0.. allocated.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from netlab.kernel.fake import FakeKernel
from netlab.lifecycle import pods
from netlab.lifecycle.change import change
from netlab.lifecycle.runtime import Runtime
from netlab.lifecycle.up import build
from netlab.scenario import edits
from netlab.scenario.loader import parse_documents
from netlab.state import LabDir
from tests.helpers import deployment, lab_doc, pod, scenario, service

NODES = ("node1", "node2", "node3")


def make(tmp_path, seed: int):
    sc = scenario(lab_doc(name=f"prop{seed}", nodes=NODES), deployment(replicas=2),
                  pod("p0"), service(cluster_ip="10.96.0.100"))
    kernel, ld = FakeKernel(), LabDir(f"prop{seed}", root=str(tmp_path))
    build(sc, kernel, ld, controller=False)
    return kernel, ld


def random_edit(rng: random.Random, docs: list[dict], lab: str, n: int):
    """One random change, as apply, delete or scale would make it."""
    pods = [d["body"]["metadata"]["name"] for d in docs if d["body"].get("kind") == "Pod"]
    services = [d["body"]["metadata"]["name"] for d in docs if d["body"].get("kind") ==
                "Service" and d["body"]["metadata"]["name"].startswith("s")]
    choice = rng.choice(["add-pod", "add-pod", "delete-pod", "scale", "add-service",
                         "delete-service", "relabel-pod"])
    if choice == "delete-pod" and pods:
        return edits.delete(docs, [("Pod", rng.choice(pods))], "default", lab)
    if choice == "scale":
        return edits.scale(docs, "default", "web", rng.randint(0, 4), lab)
    if choice == "delete-service" and services:
        return edits.delete(docs, [("Service", rng.choice(services))], "default", lab)
    if choice == "add-service":
        text = service(name=f"s{n}", app=rng.choice(["web", "p0"]))
    elif choice == "relabel-pod" and pods:
        name = rng.choice(pods)
        text = pod(name).replace(f"labels: {{app: {name}}}",
                                 f"labels: {{app: {name}, v: '{n}'}}")
    else:
        text = pod(f"p{n}", node=rng.choice(["", *NODES]))
    return edits.apply(docs, parse_documents(text, "change.yaml"))[0]


def kernel_matches_state(kernel, ld) -> dict:
    """The kernel holds the state's pods, the terminating ones included (get pods shows
    them Terminating until they are gone)."""
    state = ld.load_state()
    world = kernel.world
    pod_netns = {n for n in world.netns if ".pod." in n}
    assert pod_netns == {p.netns for p in state.all_pods() if not p.spec.host_network}
    for p in state.all_pods():
        node = state.plan.node(p.node)
        prefix = ipaddress.ip_network(node.pod_cidr).prefixlen
        assert p.host_veth in world.netns[node.netns].links, p.key
        assert world.netns[p.netns].links["eth0"].addresses == {f"{p.ip}/{prefix}"}, p.key
        for st in state.processes.get(p.key, {}).values():
            assert kernel.processes.alive(st.pid, st.start) or p.key in state.terminating, \
                p.key
    ips = [p.ip for p in state.all_pods()]
    assert len(ips) == len(set(ips)), "two pods share an address"
    return {p.key: (p, {c: st.pid for c, st in state.processes.get(p.key, {}).items()})
            for p in state.plan.pods}


@pytest.mark.parametrize("seed", range(12))
def test_random_changes_touch_only_what_they_change(tmp_path, seed):
    rng = random.Random(seed)
    kernel, ld = make(tmp_path, seed)
    before = kernel_matches_state(kernel, ld)
    for n in range(1, 11):
        change(ld.lab, lambda docs, n=n: random_edit(rng, docs, ld.lab, n), kernel=kernel,
               ld=ld, kernel_check=lambda *_: None, controller=False)
        if rng.random() < 0.5:  # the controller removes the pods that have terminated
            rt = Runtime(ld.load_state(), ld, kernel)
            pods.finish_terminating(rt, rt.clock())
            rt.save()
        after = kernel_matches_state(kernel, ld)
        for key, (pod_before, pids) in before.items():
            if key in after and (after[key][0].labels, after[key][0].spec) == \
                    (pod_before.labels, pod_before.spec):
                assert after[key] == (pod_before, pids), f"change {n} touched {key}"
        before = after
