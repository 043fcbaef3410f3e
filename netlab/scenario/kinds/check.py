"""Check (netlab/v1): a probe from a pod, deployment, node or client to a target, and what
must come back."""

from __future__ import annotations

import re

from netlab.model import CheckSpec, Expect
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import boolean, whole
from netlab.scenario.registry import Loaded, Meta, kind

SOURCE_KINDS = ("pod", "deploy", "deployment", "node", "client")
PROTOCOLS = ("http", "ping", "tcp", "dns", "trace")
TRACE_ONLY = ("masqueraded", "via", "endpointOnNode")
HTTP_ONLY = ("status", "bodyContains", "distinctBackends", "sourceIP", "backendShare")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
SPEC = Path("spec")


@kind("Check", ("netlab/v1",), schema.CHECK, namespaced=False)
def load_check(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec")
    if not isinstance(spec, dict):
        r.add(SPEC, "spec is required")
        return
    before = len(r.errors)
    source = spec.get("from")
    if not isinstance(source, str) or "/" not in source or \
            source.split("/", 1)[0] not in SOURCE_KINDS:
        r.add(SPEC.child("from"), "from must be pod/NAME, deploy/NAME, node/NAME or client/NAME")
    protos = [p for p in PROTOCOLS if p in spec]
    proto = protos[0] if len(protos) == 1 else ""
    if not proto:
        r.add(SPEC, "exactly one of http, ping, tcp, dns, trace is required")
    target = spec.get(proto) if proto else ""
    if proto and (not isinstance(target, str) or not target):
        r.add(SPEC.child(proto), "must name a target (svc/NAME, pod/NAME, node/NAME, "
                                 "client/NAME, an address or a DNS name)")
    if proto == "trace" and spec.get("udp") is not None:
        boolean(r, spec["udp"], SPEC.child("udp"), False)
    port = spec.get("port")
    if port is not None:
        r.check(SPEC.child("port"), validate.port_number(port))
    elif proto == "tcp":
        r.add(SPEC.child("port"), "a tcp check needs a port")
    attempts = whole(r, spec.get("attempts", 1), SPEC.child("attempts"), 1, 1000,
                     "attempts must be a whole number from 1 to 1000", 1)
    timeout = r.value(SPEC.child("timeoutSeconds"), spec.get("timeoutSeconds", 2),
                      lambda v: not isinstance(v, bool) and isinstance(v, (int, float))
                      and 0 < v <= 60, "timeoutSeconds must be between 0 and 60", 2)
    expect = _expect(r, spec.get("expect") or {}, proto, attempts)
    during = spec.get("during") or {}
    restart = during.get("rolloutRestart", "") if isinstance(during, dict) else None
    if restart is None or (restart and (not isinstance(restart, str) or restart.split(
            "/", 1)[0] not in ("deploy", "deployment") or "/" not in restart)):
        r.add(SPEC.child("during", "rolloutRestart"), "must be deploy/NAME")
        restart = ""
    node = during.get("nodeStop", "") if isinstance(during, dict) else ""
    if node and restart:
        r.add(SPEC.child("during"), "one of rolloutRestart and nodeStop")
    elif node:
        if node != "announcer" and node not in loaded.lab.nodes:
            r.add(SPEC.child("during", "nodeStop"), f"must be a node of the lab "
                                                    f"({', '.join(loaded.lab.nodes)}) or "
                                                    "announcer")
        restart = f"node/{node}"
    if restart and proto not in ("http", "tcp"):
        r.add(SPEC.child("during"), "a check during a rollout or a node stop sends http or "
                                    "tcp probes")
    headers = _headers(r, spec.get("headers"), proto)
    if len(r.errors) > before or expect is None:
        return
    loaded.checks.append(CheckSpec(
        name=meta.name, source=source, protocol=proto, target=target,
        namespace=str(spec.get("namespace", "default")), port=port,
        path=str(spec.get("path", "/")), attempts=attempts, timeout_s=float(timeout),
        record_type=str(spec.get("type", "A")).upper(), server=str(spec.get("server", "")),
        expect=expect, during=restart, headers=headers,
        udp=proto == "trace" and spec.get("udp") is True))


def _headers(r: Report, value: object, proto: str) -> tuple[tuple[str, str], ...]:
    """http: request headers, {Name: value} (Host for an Ingress rule, a canary's header,
    Cookie)."""
    path = SPEC.child("headers")
    if value is None:
        return ()
    if proto != "http" or not isinstance(value, dict):
        r.add(path, "must be a mapping of header names to values, for http checks")
        return ()
    out = []
    for k, v in value.items():
        text = str(v)
        if not isinstance(k, str) or not _HEADER_NAME.match(k):
            r.add(path.key(k), f"{k!r} is not a header name")
        elif any(ch in text for ch in "\r\n\0"):
            r.add(path.key(k), "a header value is one line")
        else:
            out.append((k, text))
    return tuple(out)


def _share(r: Report, value: object, path: Path) -> tuple[tuple[str, float, float], ...]:
    """backendShare: {POD-NAME-PREFIX: [MIN, MAX]} in percent of the answers."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        r.add(path, "must map a pod name prefix to [min, max] percent")
        return ()
    out = []
    for k, v in value.items():
        if not (isinstance(v, list) and len(v) == 2 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 100
                for x in v) and v[0] <= v[1]):
            r.add(path.key(k), "must be [min, max] percent, 0 to 100")
            continue
        out.append((str(k), float(v[0]), float(v[1])))
    return tuple(out)


def _expect(r: Report, e: object, proto: str, attempts: int) -> Expect | None:
    path = SPEC.child("expect")
    if not isinstance(e, dict):
        r.add(path, "must be a mapping")
        return None
    success = boolean(r, e.get("success", True), path.child("success"), True)
    status = e.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        r.add(path.child("status"), "must be an HTTP status code")
    distinct = e.get("distinctBackends")
    if distinct is not None:
        if not isinstance(distinct, int) or distinct < 1:
            r.add(path.child("distinctBackends"), "must be a whole number >= 1")
        elif distinct > attempts:
            r.add(path.child("distinctBackends"), f"{distinct} distinct backends cannot "
                                                  f"answer {attempts} attempts")
    if proto and proto != "http" and any(e.get(k) is not None for k in HTTP_ONLY):
        r.add(path, "status, bodyContains, distinctBackends and sourceIP apply to http checks")
    answers = e.get("answers") or []
    if not isinstance(answers, list):
        r.add(path.child("answers"), "must be a list")
        answers = []
    count = e.get("answerCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 0):
        r.add(path.child("answerCount"), "must be a whole number >= 0")
    if proto and proto != "dns" and (answers or count is not None):
        r.add(path, "answers and answerCount apply to dns checks")
    if proto and proto != "trace" and any(e.get(k) is not None for k in TRACE_ONLY):
        r.add(path, "masqueraded, via and endpointOnNode apply to trace checks")
    masq = e.get("masqueraded")
    if masq is not None:
        masq = boolean(r, masq, path.child("masqueraded"), False)
    for key in ("via", "endpointOnNode"):
        if e.get(key) is not None and (not isinstance(e[key], str) or not e[key]):
            r.add(path.child(key), "must be a name")
    return Expect(success=success, status=status,
                  body_contains=None if e.get("bodyContains") is None
                  else str(e["bodyContains"]),
                  distinct_backends=distinct,
                  source_ip=None if e.get("sourceIP") is None else str(e["sourceIP"]),
                  answers=tuple(str(a) for a in answers), answer_count=count,
                  max_outage=None if e.get("maxOutageSeconds") is None
                  else float(e["maxOutageSeconds"]),
                  backend_share=_share(r, e.get("backendShare"), path.child("backendShare")),
                  masqueraded=masq, via=e.get("via"), endpoint_on_node=e.get("endpointOnNode"))
