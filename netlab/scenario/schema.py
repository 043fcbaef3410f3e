"""Known fields of the manifests netlab accepts, for kubectl-style strict validation.

A field listed here is accepted even when netlab ignores it (``resources``, ``imagePullPolicy``),
so manifests written for a real cluster load unchanged; a field that Kubernetes does not know is
an error, as ``kubectl apply --validate=strict`` reports it. ``ANY`` accepts any value.
"""

from __future__ import annotations

ANY = "any"

_OBJECT_META = {
    "name": ANY, "namespace": ANY, "labels": ANY, "annotations": ANY, "generateName": ANY,
    "uid": ANY, "resourceVersion": ANY, "creationTimestamp": ANY, "generation": ANY,
    "ownerReferences": ANY, "finalizers": ANY, "managedFields": ANY, "selfLink": ANY,
    "deletionTimestamp": ANY, "deletionGracePeriodSeconds": ANY,
}

_HANDLER = {"exec": {"command": ANY}, "httpGet": {"path": ANY, "port": ANY, "host": ANY,
            "scheme": ANY, "httpHeaders": ANY}, "tcpSocket": {"port": ANY, "host": ANY},
            "grpc": {"port": ANY, "service": ANY}}
_PROBE = dict(_HANDLER, initialDelaySeconds=ANY, timeoutSeconds=ANY, periodSeconds=ANY,
              successThreshold=ANY, failureThreshold=ANY, terminationGracePeriodSeconds=ANY)

_CONTAINER_SECURITY = {
    "runAsUser": ANY, "runAsGroup": ANY, "runAsNonRoot": ANY, "privileged": ANY,
    "allowPrivilegeEscalation": ANY, "capabilities": {"add": ANY, "drop": ANY},
    "readOnlyRootFilesystem": ANY, "seLinuxOptions": ANY, "seccompProfile": ANY,
    "procMount": ANY, "windowsOptions": ANY, "appArmorProfile": ANY,
}
POD_SECURITY = {
    "runAsUser": ANY, "runAsGroup": ANY, "runAsNonRoot": ANY, "supplementalGroups": ANY,
    "supplementalGroupsPolicy": ANY, "fsGroup": ANY, "fsGroupChangePolicy": ANY,
    "sysctls": ANY, "seLinuxOptions": ANY, "seLinuxChangePolicy": ANY, "seccompProfile": ANY,
    "windowsOptions": ANY, "appArmorProfile": ANY,
}
_CONTAINER = {
    "name": ANY, "image": ANY, "command": ANY, "args": ANY, "workingDir": ANY,
    "ports": [{"containerPort": ANY, "name": ANY, "protocol": ANY, "hostPort": ANY,
               "hostIP": ANY}],
    "env": [{"name": ANY, "value": ANY, "valueFrom": ANY}], "envFrom": ANY,
    "resources": ANY, "resizePolicy": ANY, "restartPolicy": ANY,
    "volumeMounts": [{"name": ANY, "mountPath": ANY, "readOnly": ANY, "subPath": ANY,
                      "subPathExpr": ANY, "mountPropagation": ANY, "recursiveReadOnly": ANY}],
    "volumeDevices": ANY, "livenessProbe": _PROBE, "readinessProbe": _PROBE,
    "startupProbe": _PROBE, "lifecycle": ANY, "terminationMessagePath": ANY,
    "terminationMessagePolicy": ANY, "imagePullPolicy": ANY,
    "securityContext": _CONTAINER_SECURITY,
    "stdin": ANY, "stdinOnce": ANY, "tty": ANY,
}

POD_SPEC = {
    "containers": [_CONTAINER], "initContainers": [_CONTAINER], "ephemeralContainers": ANY,
    "volumes": ANY, "restartPolicy": ANY, "terminationGracePeriodSeconds": ANY,
    "activeDeadlineSeconds": ANY, "dnsPolicy": ANY, "nodeSelector": ANY,
    "serviceAccountName": ANY, "serviceAccount": ANY, "automountServiceAccountToken": ANY,
    "nodeName": ANY, "hostNetwork": ANY, "hostPID": ANY, "hostIPC": ANY,
    "shareProcessNamespace": ANY, "securityContext": POD_SECURITY, "imagePullSecrets": ANY,
    "hostname": ANY, "subdomain": ANY, "affinity": ANY, "schedulerName": ANY,
    "tolerations": ANY, "hostAliases": ANY, "priorityClassName": ANY, "priority": ANY,
    "dnsConfig": ANY, "readinessGates": ANY, "runtimeClassName": ANY,
    "enableServiceLinks": ANY, "preemptionPolicy": ANY, "overhead": ANY,
    "topologySpreadConstraints": ANY, "setHostnameAsFQDN": ANY, "os": ANY,
    "hostUsers": ANY, "schedulingGates": ANY, "resourceClaims": ANY,
}

_TEMPLATE = {"metadata": _OBJECT_META, "spec": POD_SPEC}

# v1's service backend and the legacy serviceName/servicePort (the loader takes the one its
# apiVersion has)
_INGRESS_BACKEND = {"service": {"name": ANY, "port": {"number": ANY, "name": ANY}},
                    "resource": ANY, "serviceName": ANY, "servicePort": ANY}

KINDS: dict[str, dict] = {
    "Pod": {"metadata": _OBJECT_META, "spec": POD_SPEC, "status": ANY},
    "Deployment": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "replicas": ANY, "selector": {"matchLabels": ANY, "matchExpressions": ANY},
        "template": _TEMPLATE, "strategy": ANY, "minReadySeconds": ANY,
        "revisionHistoryLimit": ANY, "paused": ANY, "progressDeadlineSeconds": ANY}},
    "ReplicaSet": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "replicas": ANY, "selector": {"matchLabels": ANY, "matchExpressions": ANY},
        "template": _TEMPLATE, "minReadySeconds": ANY}},
    "DaemonSet": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "selector": {"matchLabels": ANY, "matchExpressions": ANY}, "template": _TEMPLATE,
        "updateStrategy": ANY, "minReadySeconds": ANY, "revisionHistoryLimit": ANY,
        "replicas": ANY}},
    "Job": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "selector": {"matchLabels": ANY, "matchExpressions": ANY}, "template": _TEMPLATE,
        "completions": ANY, "parallelism": ANY, "backoffLimit": ANY,
        "activeDeadlineSeconds": ANY, "ttlSecondsAfterFinished": ANY, "completionMode": ANY,
        "manualSelector": ANY, "suspend": ANY, "podFailurePolicy": ANY,
        "backoffLimitPerIndex": ANY, "maxFailedIndexes": ANY, "podReplacementPolicy": ANY}},
    "IPAddressPool": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "addresses": ANY, "autoAssign": ANY, "avoidBuggyIPs": ANY,
        "serviceAllocation": {"priority": ANY, "namespaces": ANY, "namespaceSelectors": ANY,
                              "serviceSelectors": ANY}}},
    "L2Advertisement": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "ipAddressPools": ANY, "ipAddressPoolSelectors": ANY, "nodeSelectors": ANY,
        "interfaces": ANY}},
    "ConfigMap": {"metadata": _OBJECT_META, "data": ANY, "binaryData": ANY, "immutable": ANY},
    "Secret": {"metadata": _OBJECT_META, "type": ANY, "data": ANY, "stringData": ANY,
               "immutable": ANY},
    "Service": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "ports": [{"name": ANY, "protocol": ANY, "appProtocol": ANY, "port": ANY,
                   "targetPort": ANY, "nodePort": ANY}],
        "selector": ANY, "clusterIP": ANY, "clusterIPs": ANY, "type": ANY,
        "externalIPs": ANY, "sessionAffinity": ANY, "loadBalancerIP": ANY,
        "loadBalancerSourceRanges": ANY, "externalName": ANY,
        "externalTrafficPolicy": ANY, "healthCheckNodePort": ANY,
        "publishNotReadyAddresses": ANY, "sessionAffinityConfig": ANY, "ipFamilies": ANY,
        "ipFamilyPolicy": ANY, "allocateLoadBalancerNodePorts": ANY,
        "loadBalancerClass": ANY, "internalTrafficPolicy": ANY, "trafficDistribution": ANY}},
    "Namespace": {"metadata": _OBJECT_META, "spec": ANY, "status": ANY},
    "Ingress": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "ingressClassName": ANY, "defaultBackend": _INGRESS_BACKEND, "backend": _INGRESS_BACKEND,
        "tls": [{"hosts": ANY, "secretName": ANY}],
        "rules": [{"host": ANY, "http": {"paths": [{
            "path": ANY, "pathType": ANY, "backend": _INGRESS_BACKEND}]}}]}},
    "IngressClass": {"metadata": _OBJECT_META, "spec": {"controller": ANY, "parameters": ANY}},
    "GatewayClass": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "controllerName": ANY, "description": ANY, "parametersRef": ANY}},
    "Gateway": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "gatewayClassName": ANY, "addresses": ANY, "infrastructure": ANY,
        "listeners": [{"name": ANY, "hostname": ANY, "port": ANY, "protocol": ANY,
                       "tls": {"mode": ANY, "certificateRefs": ANY, "options": ANY},
                       "allowedRoutes": ANY}]}},
    "HTTPRoute": {"metadata": _OBJECT_META, "status": ANY, "spec": {
        "parentRefs": ANY, "hostnames": ANY,
        "rules": [{"name": ANY, "matches": ANY, "filters": ANY, "backendRefs": ANY,
                   "timeouts": ANY, "sessionPersistence": ANY}]}},
    "ReferenceGrant": {"metadata": _OBJECT_META, "spec": {"from": ANY, "to": ANY}},
    "Endpoints": {"metadata": _OBJECT_META, "subsets": [{
        "addresses": [{"ip": ANY, "hostname": ANY, "nodeName": ANY, "targetRef": ANY}],
        "notReadyAddresses": [{"ip": ANY, "hostname": ANY, "nodeName": ANY, "targetRef": ANY}],
        "ports": [{"name": ANY, "port": ANY, "protocol": ANY, "appProtocol": ANY}]}]},
    "EndpointSlice": {"metadata": _OBJECT_META, "addressType": ANY,
                      "ports": [{"name": ANY, "port": ANY, "protocol": ANY, "appProtocol": ANY}],
                      "endpoints": [{"addresses": ANY, "conditions": ANY, "hostname": ANY,
                                     "nodeName": ANY, "targetRef": ANY, "zone": ANY,
                                     "hints": ANY, "deprecatedTopology": ANY}]},
}

LAB_SPEC = {
    "nodes": ANY, "clients": ANY, "proxyMode": ANY, "routing": ANY, "podCIDR": ANY,
    "serviceCIDR": ANY, "nodeCIDR": ANY, "nodeCIDRMaskSize": ANY, "clusterDomain": ANY,
    "maxPods": ANY, "images": ANY, "nodePortRange": ANY, "clusterDNS": ANY,
    "ipvs": {"scheduler": ANY, "strictARP": ANY, "vipFilter": ANY},
    "outsideNames": ANY, "syncPeriod": ANY, "controlPlaneTaint": ANY,
    "loadBalancer": {"provider": ANY, "clientRoutes": ANY},
    "ingress": {"controller": ANY, "service": ANY},
}
LAB = {"metadata": {"name": ANY, "labels": ANY, "annotations": ANY}, "spec": LAB_SPEC}

CHECK = {"metadata": {"name": ANY, "labels": ANY, "annotations": ANY}, "spec": {
    "from": ANY, "namespace": ANY, "http": ANY, "ping": ANY, "tcp": ANY, "dns": ANY,
    "trace": ANY, "udp": ANY,
    "port": ANY, "path": ANY, "attempts": ANY, "timeoutSeconds": ANY, "type": ANY,
    "server": ANY, "during": {"rolloutRestart": ANY, "nodeStop": ANY}, "headers": ANY,
    "expect": {"success": ANY, "status": ANY, "bodyContains": ANY,
                              "distinctBackends": ANY, "sourceIP": ANY, "answers": ANY,
                              "answerCount": ANY, "maxOutageSeconds": ANY,
                              "backendShare": ANY, "masqueraded": ANY, "via": ANY,
                              "endpointOnNode": ANY}}}


def unknown_fields(obj: object, schema: object, path: str = "") -> list[str]:
    """Paths (like ``spec.containers[0].prots``) of fields the schema does not know."""
    if schema == ANY or obj is None:
        return []
    if isinstance(schema, list):
        if not isinstance(obj, list):
            return []
        out: list[str] = []
        for i, item in enumerate(obj):
            out += unknown_fields(item, schema[0], f"{path}[{i}]")
        return out
    if isinstance(schema, dict) and isinstance(obj, dict):
        out = []
        for key, value in obj.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in schema:
                out.append(sub)
            else:
                out += unknown_fields(value, schema[key], sub)
        return out
    return []
