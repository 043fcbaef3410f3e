"""The ``netlab`` command: thin click commands over the controller, checks and objects."""

from __future__ import annotations

import copy
import logging
import os
import platform
import sys
import time
from importlib import resources

import click

from netlab import console, controller, objects
from netlab.checks.runner import junit_xml, run_checks
from netlab.errors import NetlabError, UsageError
from netlab.model import CheckSpec, Expect, LabPlan
from netlab.scenario import load_scenario
from netlab.state import LabDir, list_labs
from netlab.state.store import log_failure

DEFAULT_SCENARIO = "clusterip.yaml"


def default_scenario_path() -> str:
    return str(resources.files("netlab.scenarios").joinpath(DEFAULT_SCENARIO))


class NetlabGroup(click.Group):
    """Every error ends as one line on stderr and an exit status (2: bad input or a missing
    prerequisite, nothing was created; 1: a failure while running). The traceback goes to
    netlab's log, and to stderr with -v."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NetlabError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except KeyboardInterrupt:
            console.err.print("netlab: interrupted")
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug or an unforeseen state: still one line, no traceback
            _fail(ctx, f"{type(exc).__name__}: {exc}", 1, unexpected=True)


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _fail(ctx: click.Context, message: str, code: int, unexpected: bool = False) -> None:
    import traceback

    lab = ctx.meta.get("netlab.lab", "")
    command = " ".join(["netlab", *sys.argv[1:]])
    where = log_failure(f"{command}{f' (lab {lab})' if lab else ''}: exit {code}: "
                        f"{_one_line(message)}\n{traceback.format_exc()}")
    line = _one_line(message)
    if unexpected:
        line += " (an unexpected failure" + (f"; the traceback is in {where}" if where else "") \
            + "; -v prints it)"
    if ctx.meta.get("netlab.verbose"):
        sys.stderr.write(traceback.format_exc())
    console.err.print(f"[red]netlab: error:[/red] {line}", markup=True, highlight=False)
    sys.exit(code)


def _note_lab(name: str) -> None:
    """Remember which lab this command works on, for the log of a failure."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta["netlab.lab"] = name


@click.group(cls=NetlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Kubernetes-style networking, built for real in network namespaces."""
    ctx.meta["netlab.verbose"] = verbose
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(message)s")


def _progress():
    if not sys.stderr.isatty():
        return controller._noop, None
    from rich.progress import BarColumn, Progress, TextColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                   "{task.total}"), console=console.err, transient=True)
    task = bar.add_task("starting", total=1)

    def step(name: str, done: int, total: int) -> None:
        bar.update(task, description=name, completed=done, total=max(total, 1))

    return step, bar


def _scenario(file: str | None, manifests: tuple[str, ...], name: str = ""):
    paths = [file or default_scenario_path(), *manifests]
    sc = load_scenario(paths, default_name=name)
    _note_lab(sc.lab.name)
    return sc


def _build(sc) -> LabPlan:
    step, bar = _progress()
    t0 = time.monotonic()
    if bar:
        with bar:
            plan = controller.up(sc, step)
    else:
        plan = controller.up(sc, step)
    console.err.print(f"lab [bold]{sc.lab.name}[/bold] is up: {len(plan.nodes)} node(s), "
                      f"{len(plan.pods)} pod(s), {len(plan.services)} service(s) in "
                      f"{time.monotonic() - t0:.2f}s ({sc.lab.proxy_mode}, {sc.lab.routing})")
    if not controller.wait_probed(sc.lab.name):
        console.err.print("some readiness probes have not answered yet")
    return controller.load(sc.lab.name)[0]


def _report(title: str, results: list, output: str) -> bool:
    if output in ("json", "yaml"):
        console.print_data([console.result_data(r) for r in results], output)
    elif results:
        console.out.print(console.results_text(results, console.out.is_terminal),
                          markup=console.out.is_terminal)
        console.out.print(console.counts_text(results))
    return all(r.passed for r in results)


def _pick_lab(lab: str | None) -> str:
    if lab:
        _note_lab(lab)
        return lab
    labs = list_labs()
    if len(labs) == 1:
        _note_lab(labs[0])
        return labs[0]
    if not labs:
        raise UsageError("no lab is up (netlab up [FILE])")
    raise UsageError(f"several labs are up ({', '.join(labs)}): name one with --lab")


@main.command()
@click.argument("file", required=False, type=click.Path())
@click.option("-f", "--filename", "manifests", multiple=True, type=click.Path(),
              help="More manifests: a file or a folder (like kubectl apply -f).")
@click.option("--name", default="", help="Lab name when the files hold no Lab document.")
@click.option("--no-checks", is_flag=True, help="Do not run the scenario's checks.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
def up(file, manifests, name, no_checks, output) -> None:
    """Build a lab (no FILE: the built-in ClusterIP lab) and run its checks."""
    controller.require_root()
    sc = _scenario(file, manifests, name)
    plan = _build(sc)
    if sc.checks and not no_checks:
        ok = _report(f"checks of lab {sc.lab.name}", run_checks(plan, list(sc.checks)), output)
        console.err.print(f"the lab stays up: netlab get pods, netlab exec, "
                          f"netlab down {sc.lab.name}")
        sys.exit(0 if ok else 1)


@main.command()
@click.argument("lab", required=False)
@click.option("--all", "all_", is_flag=True, help="Remove every lab.")
def down(lab, all_) -> None:
    """Remove a lab and everything it created (idempotent)."""
    controller.require_root()
    if all_ and lab:
        raise UsageError("give a lab name or --all, not both")
    names = list_labs() if all_ else [lab or _pick_lab(None)]
    for name in names:
        if not LabDir(name).exists():
            console.err.print(f"lab {name} is not up; nothing to do")
            continue
        counts = controller.teardown(name)
        console.err.print(f"lab {name} removed: {counts['namespaces']} namespace(s), "
                          f"{counts['processes']} process(es)")


@main.command()
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
def status(output) -> None:
    """Labs that are up."""
    rows, data = [], []
    for name in list_labs():
        state = LabDir(name).load_state()
        if state is None:
            rows.append([name, "incomplete (netlab down " + name + ")", "", "", "", "", ""])
            data.append({"name": name, "status": "incomplete"})
            continue
        plan, _ = controller.load(name)
        age = objects.human_age(time.time() - state["created"])
        rows.append([name, "Up", str(len(plan.nodes)), str(len(plan.pods)),
                     str(len(plan.services)), f"{plan.spec.proxy_mode}/{plan.spec.routing}", age])
        data.append({"name": name, "status": "up", "nodes": len(plan.nodes),
                     "pods": len(plan.pods), "services": len(plan.services),
                     "proxyMode": plan.spec.proxy_mode, "routing": plan.spec.routing})
    if output != "table":
        console.print_data(data, output)
    elif rows:
        console.print_plain(objects.table(["LAB", "STATUS", "NODES", "PODS", "SERVICES", "MODE",
                                           "AGE"], rows))
    else:
        console.err.print("no lab is up")


KINDS = {"deployments": "deploy", "deployment": "deploy", "deploy": "deploy",
         "pods": "pods", "pod": "pods", "po": "pods", "services": "svc", "service": "svc",
         "svc": "svc", "endpoints": "ep", "ep": "ep", "endpointslices": "eps",
         "endpointslice": "eps", "nodes": "nodes", "node": "nodes", "no": "nodes"}


@main.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-o", "--output", type=click.Choice(["wide", "json", "yaml"]), default=None)
def get(kind, name, lab, namespace, all_namespaces, output) -> None:
    """Show pods, svc, ep, endpointslices or nodes, as kubectl does."""
    if kind not in KINDS:
        raise UsageError(f"unknown resource type '{kind}' (pods, deploy, svc, ep, "
                         "endpointslices, nodes)")
    kind = KINDS[kind]
    plan, state = controller.load(_pick_lab(lab))
    created, procs = state["created"], controller.live_processes(state)
    ns = None if all_namespaces else namespace
    kernel = platform.release()
    if output in ("json", "yaml") and kind == "deploy":
        raise UsageError("get deploy prints a table only")
    if output in ("json", "yaml"):
        items: list[dict] = []
        if kind == "pods":
            items = [objects.pod_object(plan, p, procs, created) for p in plan.pods
                     if ns is None or p.namespace == ns]
            for i in items:
                i.pop("_total", None)
        elif kind in ("svc", "ep", "eps"):
            for s in plan.services:
                if ns is not None and s.service.namespace != ns:
                    continue
                if kind == "svc":
                    items.append(objects.service_object(s, created))
                elif kind == "ep":
                    items.append(objects.endpoints_object(plan, s, created))
                else:
                    items += objects.endpointslice_objects(plan, s, created)
        else:
            items = [objects.node_object(plan, n.name, created, kernel) for n in plan.nodes]
        if name:
            items = [i for i in items if i["metadata"]["name"] == name
                     or (kind == "eps" and i["metadata"]["labels"].get(
                         "kubernetes.io/service-name") == name)]
            if not items:
                raise UsageError(f"{kind} \"{name}\" not found")
            if len(items) == 1:
                console.print_data(items[0], output)
                return
        console.print_data({"apiVersion": "v1", "kind": "List", "items": items,
                            "metadata": {"resourceVersion": ""}}, output)
        return
    wide = output == "wide"
    if kind == "deploy":
        console.print_plain(objects.deployments_table(plan, procs, created, ns))
        return
    if name:
        plan = _only(plan, kind, name)
    if kind == "pods":
        text = objects.pods_table(plan, procs, created, wide, ns)
    elif kind == "svc":
        text = objects.services_table(plan, created, wide, ns)
    elif kind in ("ep", "eps"):
        text = objects.endpoints_table(plan, created, ns)
    else:
        text = objects.nodes_table(plan, created, wide, kernel)
    console.print_plain(text)


def _only(plan: LabPlan, kind: str, name: str) -> LabPlan:
    from dataclasses import replace

    if kind == "pods":
        plan = replace(plan, pods=tuple(p for p in plan.pods if p.name == name))
        found = plan.pods
    elif kind == "nodes":
        plan = replace(plan, nodes=tuple(n for n in plan.nodes if n.name == name))
        found = plan.nodes
    else:
        plan = replace(plan, services=tuple(s for s in plan.services if s.service.name == name))
        found = plan.services
    if not found:
        raise UsageError(f"{kind} \"{name}\" not found")
    return plan


@main.command()
@click.argument("ref")
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
def describe(ref, lab, namespace) -> None:
    """Show a pod's containers, probes, conditions and events: netlab describe pod/NAME"""
    kind, _, name = ref.partition("/")
    if kind not in ("pod", "pods", "po") or not name:
        raise UsageError(f"describe takes pod/NAME, got '{ref}'")
    plan, state = controller.load(_pick_lab(lab))
    pod = next((p for p in plan.pods if p.name == name and p.namespace == namespace), None)
    if pod is None:
        raise UsageError(f'pod "{name}" not found in namespace {namespace}')
    console.print_plain(objects.describe_pod(plan, pod, controller.live_processes(state),
                                             state.get("events", {}).get(pod.key, []),
                                             state["created"]))


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.argument("target")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(lab, namespace, target, argv) -> None:
    """Run ARGV inside pod/NAME, deploy/NAME, node/NAME or client/NAME."""
    from netlab.checks.runner import resolve_source

    controller.require_root()
    plan, state = controller.load(_pick_lab(lab))
    if "/" not in target:
        raise UsageError(f"target must be pod/NAME, deploy/NAME, node/NAME or client/NAME, "
                         f"got '{target}'")
    where = resolve_source(plan, target, namespace)
    args = where.argv(list(argv))
    sys.stdout.flush()
    os.execve(args[0], args, _container_env(plan, state, target, namespace) or dict(os.environ))


def _container_env(plan, state: dict, target: str, namespace: str) -> dict[str, str]:
    """Like kubectl exec: the environment of the pod's first container, as it started (read
    from the running process, so services created later are not in it)."""
    kind, _, name = target.partition("/")
    pods = [p for p in plan.pods if p.namespace == namespace and
            (p.name == name if kind == "pod" else p.owner == f"Deployment/{name}")]
    if kind not in ("pod", "deploy", "deployment") or not pods:
        return {}
    pod = sorted(pods, key=lambda p: p.name)[0]
    for container in pod.spec.containers:
        st = state.get("processes", {}).get(pod.key, {}).get(container.name, {})
        try:
            with open(f"/proc/{st.get('pid', 0)}/environ", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}
    return {}


@main.command()
@click.argument("files", nargs=-1, type=click.Path())
@click.option("-f", "--filename", "manifests", multiple=True, type=click.Path())
@click.option("--junit", type=click.Path(), help="Write JUnit XML here.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
def test(files, manifests, junit, output) -> None:
    """Build each lab, run its checks, tear it down; exit 0 only if every check passes."""
    controller.require_root()
    scenarios = [_scenario(f, manifests) for f in (files or [None])]
    all_results, ok = [], True
    for sc in scenarios:
        if not sc.checks:
            raise UsageError(f"{sc.sources[0]}: the scenario has no Check documents")
    names = [sc.lab.name for sc in scenarios]
    if len(set(names)) < len(names):
        raise UsageError(f"two scenarios name the same lab ({', '.join(names)}): rename one")
    for sc in scenarios:
        _note_lab(sc.lab.name)
        plan = _build(sc)
        try:
            results = run_checks(plan, list(sc.checks))
        finally:
            controller.teardown(sc.lab.name)
            console.err.print(f"lab {sc.lab.name} removed")
        if output == "table":
            _report(f"lab {sc.lab.name}", results, output)
        ok = all(r.passed for r in results) and ok
        all_results.append((sc.lab.name, results))
    if output != "table":
        data = [dict(console.result_data(r), lab=name) for name, rs in all_results for r in rs]
        console.print_data(data, output)
    elif len(all_results) > 1:
        console.out.print(f"total of {len(all_results)} labs: "
                          + console.counts_text([r for _n, rs in all_results for r in rs]))
    if junit:
        with open(junit, "w", encoding="utf-8") as f:
            f.write("".join(junit_xml(name, rs) for name, rs in all_results[:1]) if
                    len(all_results) == 1 else _junit_many(all_results))
    sys.exit(0 if ok else 1)


def _junit_many(all_results) -> str:
    parts = [junit_xml(name, rs) for name, rs in all_results]
    inner = [p.split("<testsuites>", 1)[1].rsplit("</testsuites>", 1)[0] for p in parts]
    return '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>' + "".join(inner) + \
        "</testsuites>\n"


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
    controller.require_root()
    plan, _ = controller.load(_pick_lab(lab))
    if protocol == "tcp" and port is None and "/" not in target:
        raise UsageError("a tcp check needs --port")
    spec = CheckSpec(name=f"{source} {protocol} {target}", source=source, protocol=protocol,
                     target=target, namespace=namespace, port=port, path=path,
                     attempts=attempts, timeout_s=timeout,
                     expect=Expect(success=not expect_fail, status=status_,
                                   body_contains=body_contains, distinct_backends=backends,
                                   source_ip=source_ip))
    if spec.protocol == "tcp" and spec.port is None:
        from dataclasses import replace

        from netlab.checks.runner import resolve_target

        spec = replace(spec, port=resolve_target(plan, target, namespace)[1])
    ok = _report(f"lab {plan.spec.name}", run_checks(plan, [spec]), output)
    sys.exit(0 if ok else 1)


def doc_key(body: dict) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    kind = body.get("kind", "")
    ns = "" if kind in ("Namespace", "Lab", "Check") else meta.get("namespace", "default")
    return kind, ns, str(meta.get("name", ""))


def _changed(lab: str, edit, verb: str) -> None:
    step, bar = _progress()
    if bar:
        with bar:
            before, after = controller.change(lab, edit, step)
    else:
        before, after = controller.change(lab, edit, step)
    gone = {p.key for p in before.pods} - {p.key for p in after.pods}
    new = {p.key for p in after.pods} - {p.key for p in before.pods}
    console.err.print(f"lab {lab}: {verb}; pods removed {len(gone)}, created {len(new)}")


RESOURCE_KINDS = {"pod": "Pod", "pods": "Pod", "po": "Pod", "deploy": "Deployment",
                  "deployment": "Deployment", "deployments": "Deployment",
                  "svc": "Service", "service": "Service", "services": "Service",
                  "ep": "Endpoints", "endpoints": "Endpoints",
                  "endpointslice": "EndpointSlice", "endpointslices": "EndpointSlice",
                  "check": "Check", "checks": "Check", "ns": "Namespace", "namespace": "Namespace"}


def _resource(ref: str) -> tuple[str, str]:
    kind, sep, name = ref.partition("/")
    if not sep or kind.lower() not in RESOURCE_KINDS or not name:
        raise UsageError(f"expected KIND/NAME (pod, deploy, svc, ep, endpointslice, check, "
                         f"ns), got '{ref}'")
    return RESOURCE_KINDS[kind.lower()], name


@main.command()
@click.option("--lab")
@click.option("-f", "--filename", "paths", multiple=True, required=True, type=click.Path())
def apply(lab, paths) -> None:
    """Add or change manifests in a running lab (like kubectl apply -f FILE|DIR)."""
    from netlab.scenario.loader import read_paths

    controller.require_root()
    lab = _pick_lab(lab)
    incoming = read_paths(paths)
    for doc in incoming:
        if doc.body.get("kind") == "Lab" and \
                (doc.body.get("metadata") or {}).get("name") != lab:
            raise UsageError(f"{doc.file}: the Lab document names another lab than '{lab}'")
    report: list[str] = []

    def edit(docs: list[dict]) -> list[dict]:
        index = {doc_key(d["body"]): i for i, d in enumerate(docs)}
        for doc in incoming:
            key = doc_key(doc.body)
            label = f"{key[0].lower()}/{key[2]}"
            if key in index:
                same = docs[index[key]]["body"] == doc.body
                docs[index[key]] = {"file": doc.file, "index": doc.index, "body": doc.body}
                report.append(f"{label} {'unchanged' if same else 'configured'}")
            else:
                index[key] = len(docs)
                docs.append({"file": doc.file, "index": doc.index, "body": doc.body})
                report.append(f"{label} created")
        return docs

    _changed(lab, edit, "applied")
    for line in report:
        console.print_plain(line)


@main.command()
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.argument("refs", nargs=-1, required=True)
def delete(lab, namespace, refs) -> None:
    """Delete objects from a running lab: netlab delete deploy/web svc/web-svc-cip"""
    controller.require_root()
    lab = _pick_lab(lab)
    wanted = [_resource(r) for r in refs]

    def edit(docs: list[dict]) -> list[dict]:
        keep = list(docs)
        for kind, name in wanted:
            ns = "" if kind in ("Namespace", "Check") else namespace
            match = [d for d in keep if doc_key(d["body"]) == (kind, ns, name)]
            if not match:
                raise UsageError(f"{kind.lower()} \"{name}\" not found in lab {lab}")
            keep = [d for d in keep if d not in match]
        return keep

    _changed(lab, edit, "deleted")
    for kind, name in wanted:
        console.print_plain(f'{kind.lower()} "{name}" deleted')


@main.command()
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("--replicas", type=click.IntRange(min=0), required=True)
@click.argument("ref")
def scale(lab, namespace, replicas, ref) -> None:
    """Change a Deployment's replicas: netlab scale deploy/web --replicas=1"""
    controller.require_root()
    lab = _pick_lab(lab)
    kind, name = _resource(ref)
    if kind != "Deployment":
        raise UsageError(f"only deployments scale, not {kind.lower()}")

    def edit(docs: list[dict]) -> list[dict]:
        for d in docs:
            if doc_key(d["body"]) == ("Deployment", namespace, name):
                body = copy.deepcopy(d["body"])
                body.setdefault("spec", {})["replicas"] = replicas
                d["body"] = body
                return docs
        raise UsageError(f'deployment "{name}" not found in lab {lab}')

    _changed(lab, edit, f"deploy/{name} scaled to {replicas}")
    console.print_plain(f"deployment.apps/{name} scaled")


@main.command()
@click.argument("file", required=False, type=click.Path())
@click.option("-f", "--filename", "manifests", multiple=True, type=click.Path())
def steps(file, manifests) -> None:
    """Print the lab as the ip commands you would type to build it by hand."""
    from netlab.plan.build import plan_lab
    from netlab.plan.manual import manual_steps

    sc = _scenario(file, manifests)
    plan, _ = plan_lab(sc)
    for step in manual_steps(plan, python="python3"):
        if step.why:
            console.print_plain(f"\n# {step.why}")
        console.print_plain(step.shell())


if __name__ == "__main__":
    main()
