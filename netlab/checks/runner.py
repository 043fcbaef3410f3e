"""Run checks inside the lab: resolve names, run the probes concurrently, judge the results."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from netlab.checks import agent, evaluate, probes
from netlab.errors import UsageError
from netlab.kernel.ns import netns_path
from netlab.kernel.run import container_argv, ns_argv, require_tool
from netlab.model import CheckSpec, LabPlan, PodInfo
from netlab.model.state import LabState
from netlab.plan.naming import lab_dir
from netlab.plan.security import security
from netlab.state import LabDir

TOOLS = {"http": "curl", "ping": "ping", "dns": "dig"}


@dataclass(frozen=True)
class Where:
    """Where a probe or ``exec`` runs: a node's or client's namespaces, or a pod's running
    container (its namespaces, root, user and capabilities, as ``kubectl exec``)."""

    label: str  # as the user wrote it, e.g. pod/client
    netns: str
    uts: str
    pid: int = 0  # a pod's container process (pods only)
    security: dict | None = None  # what that container runs as
    problem: str = ""  # why a pod's container cannot be entered
    pod: str = ""  # namespace/name of the pod, and its container
    container: str = ""

    def argv(self, argv: list[str]) -> list[str]:
        if self.problem:
            raise UsageError(self.problem)
        if self.pid:
            return container_argv(self.pid, self.security or {}, argv)
        return ns_argv(self.netns, argv, self.uts)


def in_container(label: str, pod: PodInfo, state: LabState | None,
                 container: str = "") -> Where:
    """The view of POD's CONTAINER (default: its first) as it runs now."""
    wanted = [c for c in pod.spec.containers if c.name == container] if container \
        else list(pod.spec.containers[:1])
    if not wanted:
        names = ", ".join(c.name for c in pod.spec.containers)
        raise UsageError(f"container {container} is not valid for pod {pod.name}: "
                         f"choose one of: {names}")
    c = wanted[0]
    st = state.processes.get(pod.key, {}).get(c.name) if state else None
    if st is None or not st.running or not st.pid:
        return Where(label, pod.netns, pod.uts,
                     problem=f"pod {pod.name} has no running container {c.name}: "
                             f"{'it is ' + st.state if st else 'it has not started'}")
    return Where(label, pod.netns, pod.uts, st.pid, security(pod.spec, c).as_request(),
                 pod=pod.key, container=c.name)


@dataclass(frozen=True)
class CheckResult:
    check: CheckSpec
    where: str
    command: str
    result: str  # PASS, FAIL or ERROR (the probe could not run: counted as a failure)
    summary: str
    reason: str = ""
    runs: int = 1  # how many times COMMAND ran (ping and dig run once)

    @property
    def passed(self) -> bool:
        return self.result == evaluate.PASS


def pods_of(plan: LabPlan, kind: str, name: str, namespace: str) -> list[PodInfo]:
    """The pods pod/NAME or deploy/NAME stands for in NAMESPACE, by name (the first is the one
    a check uses)."""
    return sorted((p for p in plan.pods if p.namespace == namespace and
                   (p.name == name if kind == "pod" else p.owner == f"Deployment/{name}")),
                  key=lambda p: p.name)


def resolve_source(plan: LabPlan, ref: str, namespace: str = "default",
                   state: LabState | None = None, container: str = "") -> Where:
    """Where REF (node/, client/, pod/ or deploy/NAME) runs things; a pod's running container
    is read from STATE (default: the lab's saved state)."""
    kind, _, name = ref.partition("/")
    if kind in ("pod", "deploy", "deployment") and state is None:
        state = LabDir(plan.spec.name).load_state()
    uts_dir = f"{lab_dir(plan.spec.name)}/uts"
    if kind == "node":
        for n in plan.nodes:
            if n.name == name:
                return Where(ref, n.netns, f"{uts_dir}/{n.name}")
    elif kind == "client":
        for c in plan.clients:
            if c.name == name:
                return Where(ref, c.netns, f"{uts_dir}/{c.name}")
    elif kind in ("pod", "deploy", "deployment"):
        pods = pods_of(plan, kind, name, namespace)
        if pods:
            label = ref if kind == "pod" else f"{ref} ({pods[0].name})"
            return in_container(label, pods[0], state, container)
    raise UsageError(f"{ref} is not in lab '{plan.spec.name}' (namespace {namespace})")


def resolve_target(plan: LabPlan, ref: str, namespace: str = "default") -> tuple[str, int | None]:
    """An address (and a default port) for svc/NAME, pod/NAME, deploy/NAME, node/ or client/."""
    kind, sep, name = ref.partition("/")
    if not sep:
        return ref, None
    if kind in ("svc", "service"):
        for s in plan.services:
            if s.service.name == name and s.service.namespace == namespace:
                if s.cluster_ip == "None":
                    raise UsageError(f"{ref} is headless: it has no ClusterIP to reach")
                return s.cluster_ip, s.service.ports[0].port
    elif kind in ("pod", "deploy", "deployment"):
        pods = pods_of(plan, kind, name, namespace)
        if pods:
            ports = [cp.container_port for c in pods[0].spec.containers for cp in c.ports]
            return pods[0].ip, ports[0] if ports else 80
    elif kind == "node":
        for n in plan.nodes:
            if n.name == name:
                return n.lan_ip, None
    elif kind == "client":
        for c in plan.clients:
            if c.name == name:
                return c.lan_ip, None
    else:
        return ref, None
    raise UsageError(f"{ref} is not in lab '{plan.spec.name}' (namespace {namespace})")


# Probes run with a minimal environment: a proxy variable in the user's shell must not
# send curl somewhere else.
PROBE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C.UTF-8"}
# Time the agent may take beyond its probes' own deadlines: an interpreter start, which under
# software emulation (the VM harness) takes seconds.
AGENT_START_S = 60.0


def run_attempts(where: Where, job: dict, attempts: int,
                 deadline_s: float) -> list[probes.Attempt]:
    """Run ATTEMPTS probes of JOB (argv or tcp) in WHERE's namespaces, entered once by one
    agent process; each attempt is killed after DEADLINE_S. Never raises for what happens
    inside: an attempt that could not run says so (ran=False) and why."""
    if where.problem:
        return [probes.Attempt(False, error=where.problem)] * attempts
    payload = dict(job, netns=netns_path(where.netns), uts=where.uts, pid=where.pid,
                   security=where.security, attempts=attempts, deadline=deadline_s,
                   env=PROBE_ENV)
    argv = [sys.executable, "-m", "netlab.checks.agent"]
    budget = AGENT_START_S + attempts * (deadline_s + 1)
    try:
        proc = subprocess.run(argv, input=json.dumps(payload).encode(), capture_output=True,
                              timeout=budget, check=False, env=PROBE_ENV)
        out, err, late = agent._text(proc.stdout), agent._text(proc.stderr), False
    except subprocess.TimeoutExpired as exc:
        out, err, late = agent._text(exc.stdout), agent._text(exc.stderr), True
    except OSError as exc:
        return [probes.Attempt(False, error=f"cannot start the probe: {exc.strerror or exc}")
                ] * attempts
    done: list[probes.Attempt] = []
    for line in out.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "setup_error" in data:
            return [probes.Attempt(False, error=data["setup_error"])] * attempts
        done.append(probes.Attempt.from_json(data))
    if len(done) < attempts:
        why = f"the probe did not finish within {budget:g}s" if late else \
            "the probe runner failed" + (f": {err.strip().splitlines()[-1]}" if err.strip()
                                         else "")
        done += [probes.Attempt(False, error=why)] * (attempts - len(done))
    return done


def run_check(plan: LabPlan, check: CheckSpec, state: LabState | None = None) -> CheckResult:
    where = resolve_source(plan, check.source, check.namespace, state)
    if check.protocol in TOOLS:
        require_tool(TOOLS[check.protocol])
    deadline = check.timeout_s * 2 + 5
    if check.protocol == "http":
        if "://" in check.target:
            url = check.target
        else:
            host, port = resolve_target(plan, check.target, check.namespace)
            port = check.port or port or 80
            url = f"http://{host}:{port}{check.path}"
        argv = probes.curl_argv(url, check.timeout_s, check.headers)
        replies = [probes.parse_curl(a) for a in
                   run_attempts(where, {"argv": argv}, check.attempts, deadline)]
        source_ip = None
        if check.expect.source_ip is not None:
            source_ip = resolve_target(plan, check.expect.source_ip, check.namespace)[0]
        verdict = evaluate.http(replies, check.expect, source_ip)
        command = shlex.join(argv)
    elif check.protocol == "ping":
        host, _ = resolve_target(plan, check.target, check.namespace)
        argv = probes.ping_argv(host, check.attempts, check.timeout_s)
        (attempt,) = run_attempts(where, {"argv": argv}, 1, deadline + check.attempts)
        verdict = evaluate.ping(probes.parse_ping(attempt, check.attempts), check.expect)
        command = shlex.join(argv)
    elif check.protocol == "trace":
        # the explanation reads the node's rules through the kernel layer, as netlab trace
        from netlab.kernel.api import real
        from netlab.lifecycle.tracing import explain

        expl = explain(real(), plan, state, check.source, check.target, check.namespace,
                       check.udp)
        verdict = evaluate.trace([(b.path, b.endpoint_node) for b in expl.branches],
                                 check.expect)
        command = (f"netlab trace {check.source} {check.target}" +
                   (" --udp" if check.udp else "") + f" (in {expl.ends.node}, "
                   f"{expl.mode} mode)")
    elif check.protocol == "tcp":
        host, _ = resolve_target(plan, check.target, check.namespace)
        port = check.port or 0
        replies = [probes.parse_tcp(a) for a in run_attempts(
            where, {"tcp": [host, port]}, check.attempts, check.timeout_s)]
        verdict = evaluate.tcp(replies, check.expect)
        command = f"TCP connect to {host}:{port} (timeout {check.timeout_s:g}s)"
    else:
        server = check.server
        if server and "/" in server:
            server = resolve_target(plan, server, check.namespace)[0]
        argv = probes.dig_argv(check.target, check.record_type, server, check.timeout_s)
        (attempt,) = run_attempts(where, {"argv": argv}, 1, deadline)
        verdict = evaluate.dns(probes.parse_dig(attempt), check.expect)
        command = shlex.join(argv)
    runs = check.attempts if check.protocol in ("http", "tcp") else 1
    return CheckResult(check, where.label, command, verdict.result, verdict.summary,
                       verdict.reason, runs)


@dataclass(frozen=True)
class LabActions:
    """How a check acts on a running lab: restart a Deployment's rollout and see it done;
    stop and start a node; which node announces a LoadBalancer address."""

    restart: Callable[[str, str], None]  # (namespace, name)
    done: Callable[[str, str], bool]
    set_node: Callable[[str, bool], None] | None = None  # (node, up)
    announcer: Callable[[str], str] | None = None  # address -> node
    timeout_s: float = 120.0


def run_node_stop(plan: LabPlan, check: CheckSpec, actions: LabActions,
                  where: Where, job: dict, parse, command: str, host: str) -> CheckResult:
    """Probes one at a time while a node is taken off the lab network: the outage is the time
    from the stop to the first answer after it. The node is put back afterwards."""
    node = check.during.split("/", 1)[1]
    if node == "announcer":
        node = actions.announcer(host) if actions.announcer else ""
        if not node:
            return CheckResult(check, where.label, command, evaluate.ERROR,
                               f"no node announces {host}", "the check was not run")
    deadline = check.timeout_s * 2 + 5
    before = [parse(a) for a in run_attempts(where, job, 2, deadline)]
    actions.set_node(node, False)  # type: ignore[misc]
    stopped = time.monotonic()
    after: list = []
    outage = None
    try:
        while time.monotonic() - stopped < 30:
            (reply,) = [parse(a) for a in run_attempts(where, job, 1, deadline)]
            after.append(reply)
            if evaluate.answered(reply):
                outage = time.monotonic() - stopped
                break
    finally:
        actions.set_node(node, True)  # type: ignore[misc]
    verdict = evaluate.outage(before, after, outage, check.expect, f"node/{node} stopped")
    return CheckResult(check, where.label, command, verdict.result, verdict.summary,
                       verdict.reason, len(before) + len(after))


def run_during(plan: LabPlan, check: CheckSpec, actions: LabActions | None,
               state: LabState | None = None) -> CheckResult:
    """Probes one after the other (in batches of a few, each batch one agent) while the
    rollout of CHECK.during runs, from before it starts until after it has finished."""
    what = f"the rollout of {check.during}"
    where = resolve_source(plan, check.source, check.namespace, state)
    host, port = resolve_target(plan, check.target, check.namespace)
    if check.protocol == "http":
        url = check.target if "://" in check.target else \
            f"http://{host}:{check.port or port or 80}{check.path}"
        argv = probes.curl_argv(url, check.timeout_s, check.headers)
        job, parse, command = {"argv": argv}, probes.parse_curl, shlex.join(argv)
    else:
        job = {"tcp": [host, check.port or port or 0]}
        parse, command = probes.parse_tcp, f"TCP connect to {host}:{check.port or port}"
    if actions is None:
        return CheckResult(check, where.label, command, evaluate.ERROR,
                           f"{what} needs a running lab", "the check was not run")
    if check.during.startswith("node/"):
        return run_node_stop(plan, check, actions, where, job, parse, command, host)
    name = check.during.split("/", 1)[1]
    replies: list = []
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            replies.extend(parse(a) for a in run_attempts(where, job, 5,
                                                          check.timeout_s * 2 + 5))
        replies.extend(parse(a) for a in run_attempts(where, job, 5, check.timeout_s * 2 + 5))

    worker = threading.Thread(target=stream, daemon=True)
    wait_until(lambda: actions.done(check.namespace, name), actions.timeout_s)
    worker.start()
    try:
        wait_until(lambda: replies, 10)  # answers before the rollout starts
        actions.restart(check.namespace, name)
        finished = wait_until(lambda: actions.done(check.namespace, name), actions.timeout_s)
    finally:
        stop.set()
        worker.join()
    verdict = evaluate.during(replies, check.expect, what)
    if not finished:
        verdict = evaluate.Verdict(evaluate.FAIL, verdict.summary,
                                   f"{what} did not finish within {actions.timeout_s:g}s")
    return CheckResult(check, where.label, command, verdict.result, verdict.summary,
                       verdict.reason, len(replies))


def wait_until(pred: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def run_checks(plan: LabPlan, checks: list[CheckSpec], workers: int = 8,
               actions: LabActions | None = None) -> list[CheckResult]:
    """The checks, side by side; then those that run through a rollout, one at a time (each
    changes the lab)."""
    state = LabDir(plan.spec.name).load_state()
    plain = [c for c in checks if not c.during]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(plain) or 1))) as pool:
        done = dict(zip(plain, pool.map(lambda c: run_check(plan, c, state), plain),
                        strict=True))
    for c in checks:
        if c.during:
            done[c] = run_during(plan, c, actions)
    return [done[c] for c in checks]


def junit_xml(suites: list[tuple[str, list[CheckResult]]]) -> str:
    """One JUnit document: a testsuite per lab, a testcase per check; a check whose probe
    could not run is an <error>, one that ran and failed a <failure>."""
    from xml.sax.saxutils import escape, quoteattr

    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for suite, results in suites:
        failures = sum(r.result == evaluate.FAIL for r in results)
        errors = sum(r.result == evaluate.ERROR for r in results)
        out.append(f'<testsuite name={quoteattr(suite)} tests="{len(results)}" '
                   f'failures="{failures}" errors="{errors}">')
        for r in results:
            out.append(f'  <testcase classname={quoteattr(suite)} '
                       f'name={quoteattr(r.check.name)}>')
            if not r.passed:
                tag = "error" if r.result == evaluate.ERROR else "failure"
                out.append(f'    <{tag} message={quoteattr(r.reason)}>'
                           f'{escape(r.command)}\n{escape(r.summary)}</{tag}>')
            out.append(f'    <system-out>{escape(r.where)}: {escape(r.command)}\n'
                       f'{escape(r.summary)}</system-out>')
            out.append("  </testcase>")
        out.append("</testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
