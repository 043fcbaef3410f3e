"""apply, delete, scale: changing a running lab, all or nothing."""

from __future__ import annotations

import click

from netlab import console
from netlab.cli.base import main, pick_lab, say_passive, with_progress
from netlab.errors import NetlabError, UsageError
from netlab.lifecycle.change import change
from netlab.lifecycle.preflight import require_root
from netlab.scenario import edits


def _changed(lab: str, edit, verb: str, grace: int | None = None) -> None:
    before, after = with_progress(change, lab, edit, grace=grace)
    gone = {p.key for p in before.pods} - {p.key for p in after.pods}
    new = {p.key for p in after.pods} - {p.key for p in before.pods}
    console.err.print(f"lab {lab}: {verb}; pods removed {len(gone)}, created {len(new)}")


@main.command()
@click.option("--lab")
@click.option("-f", "--filename", "paths", multiple=True, required=True, type=click.Path())
def apply(lab, paths) -> None:
    """Add or change manifests in a running lab (like kubectl apply -f FILE|DIR)."""
    from netlab.scenario.loader import read_paths

    require_root()
    lab = pick_lab(lab)
    incoming = read_paths(paths)
    for doc in incoming:
        if doc.body.get("kind") == "Lab" and \
                (doc.body.get("metadata") or {}).get("name") != lab:
            raise UsageError(f"{doc.file}: the Lab document names another lab than '{lab}'")
    from netlab.scenario.registry import passive

    say_passive([(d.body["kind"], d.label.split("/", 1)[-1], passive(d.body["kind"])[2])
                 for d in incoming if isinstance(d.body.get("kind"), str)
                 and passive(d.body["kind"])])
    report: list[str] = []

    def edit(docs: list[dict]) -> list[dict]:
        out, lines = edits.apply(docs, incoming)
        report[:] = lines
        return out

    _changed(lab, edit, "applied")
    for line in report:
        console.print_plain(line)


@main.command()
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("--grace-period", type=int, default=-1,
              help="Seconds a deleted pod gets to stop (-1: its own "
                   "terminationGracePeriodSeconds; 0 needs --force).")
@click.option("--now", is_flag=True, help="A grace period of 1 second.")
@click.option("--force", is_flag=True, help="With --grace-period=0: remove the pods at once.")
@click.option("--wait/--no-wait", default=True,
              help="Wait until the deleted pods are gone (the default, as kubectl).")
@click.argument("refs", nargs=-1, required=True)
def delete(lab, namespace, grace_period, now, force, wait, refs) -> None:
    """Delete objects from a running lab: netlab delete deploy/web svc/web-svc-cip"""
    require_root()
    lab = pick_lab(lab)
    if grace_period == 0 and not force:
        raise UsageError("--grace-period=0 removes pods at once: add --force to say so "
                         "(as kubectl asks)")
    grace = 1 if now else (None if grace_period < 0 else grace_period)
    wanted = [edits.parse_resource(r) for r in refs]
    if force and grace == 0:
        console.err.print("Warning: Immediate deletion does not wait for confirmation that "
                          "the running resource has been terminated.")
    _changed(lab, lambda docs: edits.delete(docs, wanted, namespace, lab), "deleted", grace)
    for kind, name in wanted:
        console.print_plain(f'{kind.lower()} "{name}" deleted')
    pods = [f"{namespace}/{name}" for kind, name in wanted if kind == "Pod"]
    if wait and pods:
        _wait_gone(lab, pods)


def _wait_gone(lab: str, keys: list[str]) -> None:
    """Until the lab's controller has removed the terminating pods KEYS (their grace period
    bounds it, plus a margin)."""
    import time

    from netlab.state import LabDir

    ld = LabDir(lab)
    state = ld.load_state()
    grace = max((t.deadline - time.time() for k, t in (state.terminating.items() if state
                                                       else ()) if k in keys), default=0)
    deadline = time.monotonic() + max(grace, 0) + 30
    while time.monotonic() < deadline:
        state = ld.load_state()
        if state is None or not set(keys) & set(state.terminating):
            return
        time.sleep(0.1)
    raise NetlabError(f"the pods {', '.join(keys)} are still terminating: see netlab get pods")


@main.command()
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("--replicas", type=click.IntRange(min=0), required=True)
@click.argument("ref")
def scale(lab, namespace, replicas, ref) -> None:
    """Change a Deployment's replicas: netlab scale deploy/web --replicas=1"""
    require_root()
    lab = pick_lab(lab)
    kind, name = edits.parse_resource(ref)
    if kind != "Deployment":
        raise UsageError(f"only deployments scale, not {kind.lower()}")
    _changed(lab, lambda docs: edits.scale(docs, namespace, name, replicas, lab),
             f"deploy/{name} scaled to {replicas}")
    console.print_plain(f"deployment.apps/{name} scaled")
