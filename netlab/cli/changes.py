"""apply, delete, scale: changing a running lab, all or nothing."""

from __future__ import annotations

import click

from netlab import console
from netlab.cli.base import main, pick_lab, say_passive, with_progress
from netlab.errors import UsageError
from netlab.lifecycle.change import change
from netlab.lifecycle.preflight import require_root
from netlab.scenario import edits


def _changed(lab: str, edit, verb: str) -> None:
    before, after = with_progress(change, lab, edit)
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
@click.argument("refs", nargs=-1, required=True)
def delete(lab, namespace, refs) -> None:
    """Delete objects from a running lab: netlab delete deploy/web svc/web-svc-cip"""
    require_root()
    lab = pick_lab(lab)
    wanted = [edits.parse_resource(r) for r in refs]
    _changed(lab, lambda docs: edits.delete(docs, wanted, namespace, lab), "deleted")
    for kind, name in wanted:
        console.print_plain(f'{kind.lower()} "{name}" deleted')


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
