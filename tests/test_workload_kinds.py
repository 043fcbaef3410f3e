"""Workload kinds as the apiserver validates them and the DaemonSet controller and scheduler
place them (issue 11), and the CNI portmap plugin's hostPort rules. Pure.

Address plan: nodes node1 (control plane) and node2; pods 10.244.0.0/16.
"""

from __future__ import annotations

import pytest

from netlab.errors import ScenarioError
from netlab.plan import cni
from netlab.plan.build import plan_lab
from tests.helpers import deployment, lab_doc, scenario

STRATEGY = "spec:\n  strategy: {}\n  replicas: 3"


def with_strategy(strategy: str) -> str:
    return deployment().replace("spec:\n  replicas: 3", f"spec:\n  strategy: {strategy}\n"
                                                        "  replicas: 3")


@pytest.mark.parametrize("strategy,message", [
    ("{rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}",
     "maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"),
    ("{rollingUpdate: {maxSurge: '0%', maxUnavailable: '0%'}}", "may not be 0 when `maxSurge`"),
    ("{type: Recreate, rollingUpdate: {maxSurge: 1}}",
     "may not be specified when strategy `type` is 'Recreate'"),
    ("{type: Blue}", 'Unsupported value: "Blue"'),
    ("{rollingUpdate: {maxSurge: ten}}", "a valid percent string"),
    ("{rollingUpdate: {maxUnavailable: '120%'}}", "must not be greater than 100%"),
])
def test_bad_strategies_get_the_apiservers_message(strategy, message):
    with pytest.raises(ScenarioError) as err:
        scenario(lab_doc(), with_strategy(strategy))
    assert message in str(err.value)


def test_strategy_fields_are_read():
    sc = scenario(lab_doc(), with_strategy("{rollingUpdate: {maxSurge: '50%', "
                                           "maxUnavailable: 0}}"))
    (d,) = sc.deployments
    assert (d.strategy, d.max_surge, d.max_unavailable) == ("RollingUpdate", "50%", 0)


DS = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
EXTRA      containers: [{name: a, image: nginx, ports: [{containerPort: 80, hostPort: 8080}]}]
"""


def daemonset(extra: str = "") -> str:
    return DS.replace("EXTRA", extra)


def ds_pods(*docs: str, taint: bool = False):
    lab = lab_doc(nodes=("node1", "node2"))
    if taint:
        lab = lab.replace("routing: host-gw", "routing: host-gw\n  controlPlaneTaint: true")
    plan, _ = plan_lab(scenario(lab, *docs))
    return sorted((p for p in plan.pods if p.owner == "DaemonSet/agent"), key=lambda p: p.node)


def test_a_daemonset_runs_one_pod_per_node():
    pods = ds_pods(daemonset())
    assert [p.node for p in pods] == ["node1", "node2"]
    assert all(p.name.startswith("agent-") and len(p.name) == len("agent-") + 5 for p in pods)


def test_the_control_plane_taint_keeps_daemonsets_off_unless_tolerated():
    assert [p.node for p in ds_pods(daemonset(), taint=True)] == ["node2"]
    tolerant = daemonset("      tolerations: [{key: node-role.kubernetes.io/control-plane, "
                         "operator: Exists, effect: NoSchedule}]\n")
    assert [p.node for p in ds_pods(tolerant, taint=True)] == ["node1", "node2"]


def test_node_selector_picks_the_nodes():
    only2 = daemonset("      nodeSelector: {kubernetes.io/hostname: node2}\n")
    assert [p.node for p in ds_pods(only2)] == ["node2"]


def test_a_tainted_control_plane_gets_no_deployment_pods():
    lab = lab_doc(nodes=("node1", "node2")).replace(
        "routing: host-gw", "routing: host-gw\n  controlPlaneTaint: true")
    plan, _ = plan_lab(scenario(lab, deployment(replicas=3)))
    assert {p.node for p in plan.pods if p.owner == "Deployment/web"} == {"node2"}


def test_a_pod_that_fits_no_node_is_refused():
    pod = deployment().replace("      containers:", "      nodeSelector: {disk: ssd}\n"
                                                  "      containers:")
    with pytest.raises(ScenarioError, match="fits no node: 0/1 nodes match"):
        plan_lab(scenario(lab_doc(), pod))


def test_host_port_rules_are_the_portmap_plugins():
    (pod, _) = ds_pods(daemonset())
    text = cni.render_portmap([pod])
    chain = cni.portmap_chain(pod)
    assert len(chain) == 28 and chain.startswith("CNI-DN-")
    assert "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT" in text
    assert f"-m multiport --dports 8080 -j {chain}" in text
    assert f"-A {chain} -p tcp -m tcp --dport 8080 -j DNAT --to-destination {pod.ip}:80" in text
    assert f"-A {chain} -s {pod.ip}/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK" \
        in text
    assert cni.render_portmap([]) == ""


def test_host_port_out_of_range_is_refused():
    with pytest.raises(ScenarioError, match="hostPort: must be between 1 and 65535"):
        scenario(lab_doc(), daemonset().replace("hostPort: 8080", "hostPort: 70000"))


@pytest.mark.parametrize("args,runs", [((), False), (("--api", "--kubernetes"), False),
                                       (("sleep", "3600"), True)])
def test_args_alone_are_a_command_only_when_they_name_a_program(args, runs):
    """traefik's DaemonSet passes flags to its image's entrypoint (netlab's stand-in app
    plays it); busybox's args are the command."""
    from netlab.model import Container

    assert Container("c", "traefik:v1.7", args=args).runs_command is runs
    assert Container("c", "busybox", command=("sh",), args=args).runs_command
