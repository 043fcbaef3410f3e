"""exec, check: running things inside a lab."""

from __future__ import annotations

import os
import sys
from dataclasses import replace

import click

from netlab.checks.runner import resolve_source, resolve_target, run_checks
from netlab.cli.base import attend, main, report
from netlab.errors import UsageError
from netlab.kernel.api import real
from netlab.lifecycle import pods, query
from netlab.lifecycle.preflight import require_root
from netlab.model import CheckSpec, Expect
from netlab.plan import kubelet


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("-c", "--container", default="", help="A pod's container (default: its first).")
@click.argument("target")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(lab, namespace, container, target, argv) -> None:
    """Run ARGV inside pod/NAME, deploy/NAME (in a running container, as kubectl exec does),
    node/NAME or client/NAME."""
    require_root()
    state = query.load(attend(lab))
    if "/" not in target:
        raise UsageError(f"target must be pod/NAME, deploy/NAME, node/NAME or client/NAME, "
                         f"got '{target}'")
    where = resolve_source(state.plan, target, namespace, state, container)
    args = where.argv(list(argv))
    env = exec_env(state, where) or dict(os.environ)
    sys.stdout.flush()
    os.execve(args[0], args, env)


def exec_env(state, where) -> dict[str, str]:
    """Like kubectl exec: the container's environment as it started (services created later
    are not in it); a built-in app's, which is no program of its own, from the lab's plan."""
    if not where.pid:
        return {}
    pod = next(p for p in state.plan.pods if p.key == where.pod)
    c = next(c for c in pod.spec.containers if c.name == where.container)
    if kubelet.runs_own_argv(state.plan.spec, c):
        return real().processes.environ(where.pid)
    return pods.container_env(state.plan, pod, c)


@main.command()
@click.argument("source")
@click.argument("protocol", type=click.Choice(["http", "ping", "tcp", "dns"]))
@click.argument("target")
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("--port", type=int)
@click.option("--path", default="/")
@click.option("--attempts", type=int, default=1)
@click.option("--timeout", type=float, default=2.0)
@click.option("--expect-fail", is_flag=True, help="Pass when the target does NOT answer.")
@click.option("--status", "status_", type=int)
@click.option("--body-contains")
@click.option("--backends", type=int, help="At least this many distinct backends answer.")
@click.option("--source-ip", help="The address the backend must see (IP or pod/NAME...).")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
def check(source, protocol, target, lab, namespace, port, path, attempts, timeout, expect_fail,
          status_, body_contains, backends, source_ip, output) -> None:
    """Check reachability now: netlab check pod/client http svc/web-svc-cip --backends 3"""
    require_root()
    plan = query.load(attend(lab)).plan
    if protocol == "tcp" and port is None and "/" not in target:
        raise UsageError("a tcp check needs --port")
    spec = CheckSpec(name=f"{source} {protocol} {target}", source=source, protocol=protocol,
                     target=target, namespace=namespace, port=port, path=path,
                     attempts=attempts, timeout_s=timeout,
                     expect=Expect(success=not expect_fail, status=status_,
                                   body_contains=body_contains, distinct_backends=backends,
                                   source_ip=source_ip))
    if spec.protocol == "tcp" and spec.port is None:
        spec = replace(spec, port=resolve_target(plan, target, namespace)[1])
    sys.exit(0 if report(run_checks(plan, [spec]), output) else 1)
