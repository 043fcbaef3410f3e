"""securityContext, volumes, init containers: what the loader accepts and what a container
then runs as (no root). Capabilities are compared with containerd's defaults (CapEff
00000000a80425fb for a root container).

Address plan: the default Lab; pods only (no traffic).
"""

import pytest

from netlab.errors import ScenarioError
from netlab.plan.security import CAP_NUMBER, run_as_root_refused, security
from tests.helpers import lab_doc, scenario

POD = """apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
{spec}
"""


def load(spec: str):
    sc = scenario(lab_doc(), POD.format(spec=spec))
    return sc.pods[0].spec


def caps_hex(sec) -> str:
    return f"{sum(1 << c for c in sec.caps):016x}"


def test_a_root_container_gets_containerds_default_capabilities():
    spec = load("  containers: [{name: c, image: nginx}]")
    sec = security(spec, spec.containers[0])
    assert caps_hex(sec) == "00000000a80425fb"  # what `grep CapEff /proc/self/status` shows
    assert CAP_NUMBER["NET_ADMIN"] not in sec.caps and CAP_NUMBER["SYS_ADMIN"] not in sec.caps
    assert (sec.uid, sec.gid, sec.no_new_privs) == (0, 0, False)


def test_security_context_over_the_pods():
    spec = load("""  securityContext:
    {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000]}
  containers:
    - name: c
      image: nginx
      securityContext:
        runAsUser: 2000
        allowPrivilegeEscalation: false
        capabilities: {add: [NET_ADMIN], drop: [CAP_NET_RAW]}
    - {name: d, image: nginx, securityContext: {capabilities: {drop: [ALL]}}}
    - {name: e, image: nginx, securityContext: {privileged: true}}""")
    c, d, e = (security(spec, x) for x in spec.containers)
    assert (c.uid, c.gid, c.groups, c.no_new_privs) == (2000, 3000, (4000,), True)
    assert CAP_NUMBER["NET_ADMIN"] in c.caps and CAP_NUMBER["NET_RAW"] not in c.caps
    assert d.caps == () and d.uid == 1000
    assert len(e.caps) == len(CAP_NUMBER) and e.privileged


def test_run_as_non_root_refuses_a_root_user():
    spec = load("  securityContext: {runAsNonRoot: true}\n"
                "  containers: [{name: c, image: nginx}, "
                "{name: d, image: nginx, securityContext: {runAsUser: 1}}]")
    assert "runAsNonRoot" in run_as_root_refused(spec, spec.containers[0])
    assert run_as_root_refused(spec, spec.containers[1]) == ""


def test_volumes_init_containers_and_their_refusals():
    spec = load("""  shareProcessNamespace: true
  restartPolicy: OnFailure
  volumes: [{name: data, emptyDir: {}}]
  initContainers:
    - {name: init, image: busybox, command: [sh, -c, "echo ok > /data/ready"],
       volumeMounts: [{name: data, mountPath: /data}]}
  containers:
    - {name: c, image: nginx, workingDir: /data,
       volumeMounts: [{name: data, mountPath: /data, readOnly: true}]}""")
    assert spec.volumes == ("data",) and spec.share_process_namespace
    assert spec.restart_policy == "OnFailure"
    assert spec.init_containers[0].volume_mounts[0].mount_path == "/data"
    assert spec.containers[0].volume_mounts[0].read_only
    for bad, needle in (
            ("volumes: [{name: h, hostPath: {path: /etc}}]", "hostPath volumes are refused"),
            ("volumes: [{name: c, configMap: {name: x}}]", "volume type configMap is not "
                                                           "supported yet"),
    ):
        with pytest.raises(ScenarioError, match=needle):
            load(f"  {bad}\n  containers: [{{name: c, image: nginx}}]")
    for mount, needle in (("{name: nope, mountPath: /x}", "no volume named 'nope'"),
                          ("{name: v, mountPath: /a/../etc}", "absolute, normalised path"),
                          ("{name: v, mountPath: /x, subPath: y}", "subPath is not supported")):
        with pytest.raises(ScenarioError, match=needle):
            load(f"  volumes: [{{name: v, emptyDir: {{}}}}]\n"
                 f"  containers: [{{name: c, image: nginx, volumeMounts: [{mount}]}}]")
    with pytest.raises(ScenarioError, match="an init container may not have probes"):
        load("  initContainers: [{name: i, image: busybox, "
             "readinessProbe: {tcpSocket: {port: 1}}}]\n  containers: [{name: c, image: x}]")
    with pytest.raises(ScenarioError, match="'NET_ADMINX' is not a Linux capability"):
        load("  containers: [{name: c, image: nginx, "
             "securityContext: {capabilities: {add: [NET_ADMINX]}}}]")
