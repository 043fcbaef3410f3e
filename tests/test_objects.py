"""Kubernetes-shaped objects, kubectl tables and the state codec (no root).

Address plan: as in test_plan (pods 10.244.0.2.., ClusterIP 10.96.0.100, nodes 172.18.0.2..).
"""

from netlab import objects
from netlab.model import LabPlan
from netlab.model.codec import from_data, to_data
from netlab.model.state import ContainerState
from netlab.plan.build import plan_lab
from tests.helpers import deployment, lab_doc, pod, scenario, service


def plan():
    sc = scenario(lab_doc(nodes=("node1", "node2")), deployment(replicas=3), pod("client"),
                  service(cluster_ip="10.96.0.100"))
    return plan_lab(sc)[0]


def test_state_codec_roundtrip():
    p = plan()
    assert from_data(LabPlan, to_data(p)) == p


def test_human_age_like_kubectl():
    assert [objects.human_age(s) for s in (5, 119, 150, 600, 3 * 3600 + 60, 30 * 3600,
                                           3 * 86400)] == ["5s", "119s", "2m30s", "10m",
                                                           "3h1m", "30h", "3d"]


def test_pods_table_columns():
    p = plan()
    procs = {pod.key: {c.name: ContainerState("running") for c in pod.spec.containers}
             for pod in p.pods}
    text = objects.pods_table(objects.LabView(p, procs, 0), True, "default", now=65)
    header = text.splitlines()[0].split()
    assert header[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "NOMINATED" in header and "IP" in header
    client = next(line for line in text.splitlines() if line.startswith("client"))
    assert client.split()[:5] == ["client", "1/1", "Running", "0", "65s"]
    procs[p.pods[1].key] = {"web": ContainerState("terminated", reason="StartError",
                                                  exit_code=128,
                                                  message="bind: address in use")}
    failed = objects.pods_table(objects.LabView(p, procs, 0), False, "default",
                                now=65).splitlines()
    assert any(line.split()[1:3] == ["0/1", "StartError"] for line in failed)


def test_endpoints_objects_are_kubernetes_shaped():
    p = plan()
    info = next(s for s in p.services if s.service.name == "web-svc-cip")
    ep = objects.endpoints_object(p, info, 0)
    assert ep["kind"] == "Endpoints" and ep["metadata"]["name"] == "web-svc-cip"
    ips = sorted(a["ip"] for a in ep["subsets"][0]["addresses"])
    assert ips == ["10.244.0.3", "10.244.1.2", "10.244.1.3"]
    assert ep["subsets"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    (eps,) = objects.endpointslice_objects(p, info, 0)
    assert eps["apiVersion"] == "discovery.k8s.io/v1" and eps["addressType"] == "IPv4"
    assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == "web-svc-cip"
    assert all(e["conditions"]["ready"] for e in eps["endpoints"])
    svc = objects.service_object(info, 0)
    assert svc["spec"]["clusterIP"] == "10.96.0.100" and svc["spec"]["selector"] == {"app": "web"}


def test_endpoints_table_truncates_like_kubectl():
    sc = scenario(lab_doc(), deployment(replicas=5), service(cluster_ip="10.96.0.100"))
    text = objects.endpoints_table(plan_lab(sc)[0], 0, "default", now=1)
    assert "+ 2 more..." in text


def test_hand_written_endpoints_print_as_kubernetes_objects():
    from netlab.objects import endpoints_object, endpointslice_objects

    sc = scenario(lab_doc(), """apiVersion: v1
kind: Service
metadata: {name: outside}
spec: {ports: [{port: 80, targetPort: 8080}]}
""", """apiVersion: v1
kind: Endpoints
metadata: {name: outside}
subsets: [{addresses: [{ip: 172.18.0.253}], ports: [{port: 8080}]}]
""")
    p = plan_lab(sc)[0]
    info = next(s for s in p.services if s.service.name == "outside")
    ep = endpoints_object(p, info, 0)
    assert ep["subsets"][0]["addresses"] == [{"ip": "172.18.0.253"}]
    (eps,) = endpointslice_objects(p, info, 0)
    assert eps["endpoints"][0]["addresses"] == ["172.18.0.253"]
    assert "targetRef" not in eps["endpoints"][0]
