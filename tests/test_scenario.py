"""Scenario loading and validation (no root).

Address plan: pod CIDR 10.244.0.0/16, service CIDR 10.96.0.0/12, lab network 172.18.0.0/24
(the defaults); overlap cases use 10.96.0.0/16 and 192.0.2.0/24 (TEST-NET-1, a host route).
"""

import pytest

from netlab.errors import ScenarioError
from netlab.scenario import load_scenario, validate_host_overlap
from tests.helpers import deployment, lab_doc, pod, scenario, service


def error_of(*docs: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario(*docs)
    return info.value


def test_defaults_and_kinds():
    sc = scenario(lab_doc(nodes=("node1", "node2"), clients=("laptop",)), deployment(),
                  pod("client"), service())
    assert sc.lab.name == "t" and sc.lab.nodes == ("node1", "node2")
    assert sc.lab.clients == ("laptop",) and sc.lab.proxy_mode == "iptables"
    assert sc.lab.pod_cidr == "10.244.0.0/16" and sc.lab.service_cidr == "10.96.0.0/12"
    assert [d.replicas for d in sc.deployments] == [3]
    assert sc.services[0].ports[0].target_port == 8000


def test_yaml_error_names_file_and_line():
    err = error_of(lab_doc() + "\n  bad: [unclosed\n")
    assert "lab.yaml" in str(err) and "YAML error at line" in str(err)


def test_unknown_kind_names_document():
    err = error_of(lab_doc(), "apiVersion: v1\nkind: ConfigMapp\nmetadata: {name: x}\n")
    assert "document 2" in str(err) and "unknown kind 'ConfigMapp'" in str(err)


def test_unknown_field_is_rejected_like_kubectl_strict():
    doc = pod("p").replace("image: nginx", "image: nginx, prots: []")
    err = error_of(lab_doc(), doc)
    assert "spec.containers[0].prots" in str(err) and "document 2" in str(err)


def test_fields_kubernetes_knows_are_accepted():
    doc = pod("p").replace("image: nginx", "image: nginx, imagePullPolicy: Always, "
                                           "resources: {limits: {cpu: 1}}")
    assert scenario(lab_doc(), doc).pods[0].spec.containers[0].image == "nginx"


def test_duplicate_names():
    err = error_of(lab_doc(), pod("p"), pod("p"))
    assert "duplicate Pod default/p" in str(err) and "document 3" in str(err)
    err = error_of(lab_doc(nodes=("n1", "n1")))
    assert "duplicate name 'n1'" in str(err) and "spec.nodes" in str(err)


@pytest.mark.parametrize("name", ["Node1", "node_1", "-node", "n" * 64])
def test_node_names_must_be_dns_labels(name):
    err = error_of(lab_doc(nodes=(name,)))
    assert "spec.nodes[0]" in str(err)


def test_pod_name_must_be_dns_subdomain():
    err = error_of(lab_doc(), pod("p").replace("name: p,", "name: Web_1,"))
    assert "metadata.name" in str(err) and "DNS subdomain" in str(err)


def test_cidr_overlap_inside_the_lab():
    doc = lab_doc().replace("spec:", "spec:\n  serviceCIDR: 10.244.128.0/20")
    err = error_of(doc)
    assert "overlaps" in str(err) and "serviceCIDR" in str(err)


def test_cidr_overlap_with_host_routes():
    sc = scenario(lab_doc().replace("spec:", "spec:\n  nodeCIDR: 192.0.2.0/25"))
    with pytest.raises(ScenarioError, match="overlaps the host's route to 192.0.2.0/24"):
        validate_host_overlap(sc.lab, ["0.0.0.0/0", "192.0.2.0/24"])
    validate_host_overlap(sc.lab, ["0.0.0.0/0", "198.51.100.0/24"])  # no overlap: fine


def test_pod_cidr_too_small_for_nodes():
    doc = lab_doc(nodes=("a", "b", "c")).replace("spec:", "spec:\n  podCIDR: 10.244.0.0/23")
    err = error_of(doc)
    assert "too small" in str(err) and "3 nodes" in str(err)


def test_pod_cap():
    doc = lab_doc().replace("spec:", "spec:\n  maxPods: 2")
    err = error_of(doc, deployment(replicas=3))
    assert "3 pods" in str(err) and "maxPods=2" in str(err)


def test_node_name_must_exist():
    err = error_of(lab_doc(), pod("p", node="node9"))
    assert "node 'node9' is not a node of lab 't'" in str(err)


def test_selector_must_match_template():
    doc = deployment().replace("matchLabels: {app: web}", "matchLabels: {app: other}")
    err = error_of(lab_doc(), doc)
    assert "`selector` does not match template `labels`" in str(err)


def test_service_target_port_and_protocol():
    err = error_of(lab_doc(), service(target="Not_A_Name"))
    assert "spec.ports[0].targetPort" in str(err)
    err = error_of(lab_doc(), service(proto="ICMP"))
    assert "protocol must be TCP, UDP or SCTP, got 'ICMP'" in str(err)
    err = error_of(lab_doc(), service(cluster_ip="10.200.0.1"))
    assert "not in serviceCIDR" in str(err)


def test_namespace_must_exist():
    err = error_of(lab_doc(), pod("p").replace("name: p,", "name: p, namespace: shop,"))
    assert "namespace 'shop' does not exist" in str(err)
    ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"
    sc = scenario(lab_doc(), ns, pod("p").replace("name: p,", "name: p, namespace: shop,"))
    assert sc.pods[0].namespace == "shop"


def test_check_documents():
    check = ("apiVersion: netlab/v1\nkind: Check\nmetadata: {name: c}\n"
             "spec: {from: pod/client, http: svc/web-svc-cip, attempts: 6,\n"
             "       expect: {distinctBackends: 3, status: 200}}\n")
    sc = scenario(lab_doc(), deployment(), pod("client"), service(), check)
    c = sc.checks[0]
    assert (c.protocol, c.target, c.attempts, c.expect.distinct_backends) == \
        ("http", "svc/web-svc-cip", 6, 3)
    err = error_of(lab_doc(), check.replace("pod/client", "pod/ghost"))
    assert "pod/ghost does not exist" in str(err)
    err = error_of(lab_doc(), pod("client"), check.replace("attempts: 6", "attempts: 2"))
    assert "3 distinct backends cannot answer 2 attempts" in str(err)


def test_manifests_from_files_and_folders(tmp_path):
    (tmp_path / "lab.yaml").write_text(lab_doc(name="files"))
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "a-deploy.yaml").write_text(deployment())
    (d / "b-svc.yml").write_text(service())
    (d / "notes.txt").write_text("ignored")
    sc = load_scenario([str(tmp_path / "lab.yaml"), str(d)])
    assert sc.lab.name == "files" and len(sc.deployments) == 1 and len(sc.services) == 1
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario([str(tmp_path / "missing.yaml")])


def test_yaml_is_loaded_safely():
    err = error_of(lab_doc() + "\n---\n!!python/object/apply:os.system ['true']\n")
    assert "YAML error" in str(err)


def test_list_kind_is_expanded():
    items = ("apiVersion: v1\nkind: List\nitems:\n"
             "- {apiVersion: v1, kind: Pod, metadata: {name: a},"
             " spec: {containers: [{name: c, image: x}]}}\n")
    assert [p.name for p in scenario(lab_doc(), items).pods] == ["a"]


def test_node_cidr_mask_size():
    lab = lab_doc(nodes=("a", "b", "c")).replace("spec:", "spec:\n  nodeCIDRMaskSize: 22")
    sc = scenario(lab, deployment(replicas=1000))
    assert sc.lab.node_mask == 22
    err = error_of(lab_doc(nodes=("a", "b", "c")), deployment(replicas=800))
    assert "do not fit in 3 node /24 slices (at most 253 each" in str(err)
    err = error_of(lab_doc().replace("spec:", "spec:\n  nodeCIDRMaskSize: 8"))
    assert "nodeCIDRMaskSize must be a whole number from 16 to 28" in str(err)


NP = """apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec: {{type: {type}, selector: {{app: web}}, ports: [{{port: 80{extra}}}]{more}}}
"""


def svc(name="np", type="NodePort", extra="", more=""):
    return NP.format(name=name, type=type, extra=extra, more=more)


def test_service_types_and_fields():
    sc = scenario(lab_doc(), svc(extra=", nodePort: 30080"),
                  svc("lb", "LoadBalancer", more=", externalTrafficPolicy: Local, "
                      "loadBalancerSourceRanges: [10.0.0.0/8]")
                  + "status: {loadBalancer: {ingress: [{ip: 192.0.2.5}]}}\n",
                  "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n"
                  "spec: {type: ExternalName, externalName: www.example.org.}\n")
    np, lb, ext = sc.services
    assert np.ports[0].node_port == 30080
    assert lb.load_balancer_ips == ("192.0.2.5",) and lb.external_traffic_policy == "Local"
    assert lb.load_balancer_source_ranges == ("10.0.0.0/8",)
    assert ext.type == "ExternalName" and ext.external_name == "www.example.org"


def test_node_port_range_and_collisions():
    err = error_of(lab_doc(), svc(extra=", nodePort: 80"))
    assert "nodePort 80 is outside the node port range 30000-32767" in str(err)
    lab = lab_doc().replace("spec:", "spec:\n  nodePortRange: 8000-8100")
    assert scenario(lab, svc(extra=", nodePort: 8080")).services[0].ports[0].node_port == 8080
    err = error_of(lab_doc(), svc(extra=", nodePort: 30080"), svc("b", extra=", nodePort: 30080"))
    assert "node port 30080/TCP is already allocated to default/np" in str(err)
    err = error_of(lab_doc(), svc(type="ClusterIP", extra=", nodePort: 30080"))
    assert "nodePort may only be set on NodePort and LoadBalancer" in str(err)


def test_service_policy_validation():
    err = error_of(lab_doc(), svc(type="ClusterIP", more=", externalTrafficPolicy: Local"))
    assert "externalTrafficPolicy may only be set on externally reachable" in str(err)
    err = error_of(lab_doc(), svc(more=", sessionAffinity: Sticky"))
    assert "sessionAffinity must be None or ClientIP" in str(err)
    err = error_of(lab_doc(), svc(more=", healthCheckNodePort: 30500"))
    assert "healthCheckNodePort needs type LoadBalancer" in str(err)
    err = error_of(lab_doc(), "apiVersion: v1\nkind: Service\nmetadata: {name: e}\n"
                              "spec: {type: ExternalName}\n")
    assert "externalName" in str(err)


def test_hand_written_endpoints_and_slices():
    sc = scenario(lab_doc(), "apiVersion: v1\nkind: Service\nmetadata: {name: out}\n"
                             "spec: {ports: [{port: 80}]}\n",
                  "apiVersion: v1\nkind: Endpoints\nmetadata: {name: out}\n"
                  "subsets: [{addresses: [{ip: 172.18.0.250}], notReadyAddresses: "
                  "[{ip: 172.18.0.251}], ports: [{port: 8080}]}]\n",
                  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: out-1, "
                  "labels: {kubernetes.io/service-name: out}}\naddressType: IPv4\n"
                  "ports: [{name: '', port: 8080, protocol: TCP}]\n"
                  "endpoints: [{addresses: [172.18.0.252], conditions: {ready: true}}]\n")
    assert [a for m in sc.endpoints for a in m.addresses] == [
        ("172.18.0.250", True, "", True, False), ("172.18.0.251", False, "", False, False),
        ("172.18.0.252", True, "", True, False)]
    err = error_of(lab_doc(), "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                              "metadata: {name: x}\naddressType: IPv4\n")
    assert "kubernetes.io/service-name" in str(err)


def test_clients_can_serve():
    lab = lab_doc().replace("clients: []", "clients: [laptop, {name: origin, app: web, "
                                           "ports: [8080]}]")
    sc = scenario(lab)
    assert sc.lab.clients == ("laptop", "origin")
    assert sc.lab.client_app("origin").ports == (8080,) and sc.lab.client_app("laptop") is None
