"""trace, graph: a connection's path through kube-proxy's rules, explained and proved; the
lab as a picture."""

from __future__ import annotations

import json
import sys

import click

from netlab import console
from netlab.cli.base import attend, main, scenario
from netlab.errors import UsageError
from netlab.kernel.api import real
from netlab.lifecycle import query
from netlab.lifecycle.preflight import require_root
from netlab.lifecycle.tracing import Explanation, explain
from netlab.plan.build import plan_lab
from netlab.trace.path import Hop
from netlab.trace.prove import KernelHop


@main.command()
@click.argument("source")
@click.argument("destination")
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("--udp", is_flag=True, help="A UDP flow (default TCP).")
@click.option("--prove", is_flag=True,
              help="Send one real connection and show the kernel's own trace of it.")
@click.option("--host", default="", help="The Host header, when the path reaches an ingress "
                                        "controller (default: the destination address).")
@click.option("--path", "http_path", default="/", help="The request path, for an ingress "
                                                       "controller's choice of location.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def trace(source, destination, lab, namespace, udp, prove, host, http_path, output) -> None:
    """Explain the path of a new connection from SOURCE (pod/, deploy/, node/, client/) to
    DESTINATION (svc/NAME[:port], pod/NAME:port, node/NAME:port, ADDRESS:port), hop by hop
    through the rules loaded in the node it enters."""
    require_root()
    state = query.load(attend(lab))
    expl = explain(real(), state.plan, state, source, destination, namespace, udp, prove,
                   host, http_path)
    if output == "json":
        console.print_data(expl.to_json(), "json")
    else:
        console.print_plain(render_text(expl))
    if prove and expl.proof and not expl.proof.agrees:
        raise SystemExit(1)


def _hop(h: Hop | KernelHop) -> str:
    return f"    {(h.table + ' ' + h.chain).strip():<34} {h.rule}"


def _common(paths: list[tuple[Hop, ...]]) -> int:
    n = 0
    while paths and all(len(p) > n for p in paths) and len({p[n] for p in paths}) == 1:
        n += 1
    return n


def render_text(e: Explanation) -> str:
    s = e.ends
    out = [f"{s.source} ({s.src_ip}) -> {s.destination} = {s.dst_ip}:{s.dport}/"
           f"{s.proto.upper()}: {s.what}",
           f"kube-proxy {e.mode} mode; the rules as loaded in {s.node} now", ""]
    leaves = "the node itself sends it" if s.local else f"{s.source} sends it"
    out.append(f"1. {leaves}: route {s.route}")
    if s.arp:
        out.append(f"   {s.arp} answers ARP for {s.dst_ip} with {s.arp_mac} (asked now; it "
                   "announces the LoadBalancer address), so the packet enters it")
    out.append(f"2. {s.node}'s netfilter" + (" and IPVS" if e.mode == "ipvs" else "") + ":")
    hops = [b.path.hops for b in e.branches]
    n = _common(hops)
    out += [_hop(h) for h in (hops[0][:n] if hops else ())]
    many = len(e.branches) > 1
    out.append(f"3. {'one of ' + str(len(e.branches)) + ' ways' if many else 'the outcome'}:")
    for b in e.branches:
        p = b.path
        if p.verdict == "accept" and p.dnat:
            who = f"pod {b.endpoint} on {b.endpoint_node}" if b.endpoint else "not a pod"
            head = f"DNAT to {p.dnat} ({who})"
        elif p.verdict == "accept":
            head = "accepted, its destination unchanged"
        else:
            head = f"{p.verdict.upper()} by {p.hops[-1].chain}" if p.hops else p.verdict
        masq = f"; masqueraded (source becomes the node's address), asked by " \
            f"{p.why_masqueraded}" if p.masquerade else \
            "; not masqueraded" if p.verdict == "accept" else ""
        out.append(f"   {p.odds * 100:5.1f}%  {head}{masq}")
        out += ["    " + _hop(h) for h in p.hops[n:]]
        if b.onward:
            out.append(f"           then route {b.onward}")
    out.append("4. the way back:")
    out += [f"   {line}" for line in e.back]
    if e.ingress:
        i = e.ingress
        where = f"location {i.location} ({i.path_type}" + (f", from ingress {i.ingress})"
                                                            if i.ingress else ")")
        to = f"upstream {i.upstream}: {', '.join(i.servers) or 'no ready endpoint (503)'}" \
            if i.upstream else "the default backend (404)"
        out.append(f"   then nginx in {i.controller} picks server {i.server}, {where}, "
                   f"and proxies to {to}")
    if e.proof:
        pr = e.proof
        out.append(f"5. proof: one real connection from {s.source}: {pr.reply}; the kernel's "
                   f"own trace ({pr.monitor}) in {s.node}:")
        out += [_hop(h) for h in pr.hops] or \
            ["    (the kernel traced nothing)"]
        if pr.dnat:
            out.append(f"   the kernel sent it to {pr.dnat}")
        if pr.note:
            out.append(f"   note: {pr.note}")
        out.append("   the walker's prediction " + ("AGREES with the kernel" if pr.agrees else
                                                    "DIFFERS from the kernel"))
    return "\n".join(out)


@main.command()
@click.argument("lab", required=False)
@click.option("-o", "--output", type=click.Choice(["svg", "png", "dot", "json"]), default="svg")
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False, writable=True),
              help="Write the picture here (default: standard output).")
@click.option("--trace", "traced", nargs=2, metavar="SOURCE DESTINATION",
              help="Highlight the path of a connection, as netlab trace explains it.")
@click.option("-n", "--namespace", default="default")
def graph(lab, output, path, traced, namespace) -> None:
    """Draw LAB (a running lab, or a scenario FILE.yaml as it would be built): the lab
    network, nodes with their bridge and pods, clients, the routes between nodes, Services
    with their addresses and endpoints, who announces each LoadBalancer address, Ingresses
    and their backends (Graphviz)."""
    from netlab.graph import dot, model
    from netlab.lb.allocate import assignments

    if lab and lab.endswith((".yaml", ".yml")):
        if traced:
            raise UsageError("--trace needs a running lab (netlab up FILE first)")
        plan, down = plan_lab(scenario(lab, ()))[0], frozenset()
    else:
        state = query.load(attend(lab))
        plan, down = state.plan, frozenset(state.nodes_down)
    g = model.build(plan, assignments(plan, down))
    if traced:
        require_root()
        g.highlight = highlight(explain(real(), plan, state, *traced, namespace), plan)
    if output == "json":
        data = json.dumps(g.to_json(), indent=2).encode() + b"\n"
    elif output == "dot":
        data = dot.to_dot(g).encode()
    else:
        data = dot.render(dot.to_dot(g), output)
    if path:
        with open(path, "wb") as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)


def highlight(e: Explanation, plan) -> set[str]:
    """The boxes a traced connection passes: its source, the node it enters, the Service,
    the endpoints it may reach and their nodes."""
    s = e.ends
    kind, _, name = s.source.partition("/")
    pods = {p.ip: p for p in plan.pods if not p.spec.host_network}
    out = {f"node/{s.node}"}
    out.add(f"pod/{pods[s.src_ip].key}" if s.src_ip in pods and kind in (
        "pod", "deploy", "deployment") else f"{kind}/{name}")
    key = s.what.split(" ", 1)[0]
    if any(x.key == key for x in plan.services):
        out.add(f"svc/{key}")
    for b in e.branches:
        if b.path.verdict == "accept" and b.endpoint:
            out |= {f"pod/{b.endpoint}", f"node/{b.endpoint_node}"}
    if kind == "client" or len({n for n in out if n.startswith("node/")}) > 1:
        out.add("lan")  # it crosses the lab network
    return out
