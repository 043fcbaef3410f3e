"""The ``netlab`` group and what every command shares: error handling, the lab a command works
on, progress bars, reading scenarios, printing check results."""

from __future__ import annotations

import logging
import sys
import time
from importlib import resources

import click

from netlab import console
from netlab.errors import NetlabError, UsageError
from netlab.lifecycle import query
from netlab.lifecycle.runtime import no_progress
from netlab.model import LabPlan
from netlab.scenario import load_scenario
from netlab.state import list_labs
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


@click.group(cls=NetlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Kubernetes-style networking, built for real in network namespaces."""
    ctx.meta["netlab.verbose"] = verbose
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(message)s")


def note_lab(name: str) -> None:
    """Remember which lab this command works on, for the log of a failure."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta["netlab.lab"] = name


def pick_lab(lab: str | None) -> str:
    """LAB, or the only lab that is up."""
    if lab:
        note_lab(lab)
        return lab
    labs = list_labs()
    if len(labs) == 1:
        note_lab(labs[0])
        return labs[0]
    if not labs:
        raise UsageError("no lab is up (netlab up [FILE])")
    raise UsageError(f"several labs are up ({', '.join(labs)}): name one with --lab")


def attend(lab: str | None) -> str:
    """The lab a command works on, after finishing off a killed change or restarting a dead
    controller (said on stderr)."""
    from netlab.lifecycle.supervise import attend as attend_lab

    name = pick_lab(lab)
    for note in attend_lab(name):
        console.err.print(f"netlab: lab {name}: {note}")
    return name


def scenario(file: str | None, manifests: tuple[str, ...], name: str = ""):
    # manifests alone make a lab of their own (a Lab document among them, or --name); no
    # FILE and no manifests: the ClusterIP lesson
    paths = [file, *manifests] if file else list(manifests) or [default_scenario_path()]
    sc = load_scenario(paths, default_name=name)
    note_lab(sc.lab.name)
    say_passive(sc.passive)
    return sc


def say_passive(passive) -> None:
    """Once per command: the objects netlab accepted without acting on them, by why."""
    by_note: dict[str, list[str]] = {}
    for kind, name, note in passive:
        by_note.setdefault(note, []).append(f"{kind}/{name}")
    for note, objects_ in by_note.items():
        head = "accepted, no effect on the lab" if note == "no effect on the lab" else \
            f"accepted, {note}"
        console.err.print(f"netlab: {head}: {', '.join(objects_)}", markup=False,
                          highlight=False)


def progress():
    """A progress bar on a terminal, nothing otherwise: (step function, bar or None)."""
    if not sys.stderr.isatty():
        return no_progress, None
    from rich.progress import BarColumn, Progress, TextColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                   "{task.total}"), console=console.err, transient=True)
    task = bar.add_task("starting", total=1)

    def step(name: str, done: int, total: int) -> None:
        bar.update(task, description=name, completed=done, total=max(total, 1))

    return step, bar


def with_progress(fn, *args, **kwargs):
    """FN(*ARGS, progress=step, **KWARGS), under a progress bar when there is a terminal."""
    step, bar = progress()
    if bar:
        with bar:
            return fn(*args, progress=step, **kwargs)
    return fn(*args, progress=step, **kwargs)


def build(sc) -> LabPlan:
    """Build the lab of scenario SC and wait for its readiness probes' first verdicts."""
    from netlab.lifecycle.up import up

    t0 = time.monotonic()
    plan = with_progress(up, sc)
    console.err.print(f"lab [bold]{sc.lab.name}[/bold] is up: {len(plan.nodes)} node(s), "
                      f"{len(plan.pods)} pod(s), {len(plan.services)} service(s) in "
                      f"{time.monotonic() - t0:.2f}s ({sc.lab.proxy_mode}, {sc.lab.routing})")
    if not query.wait_probed(sc.lab.name):
        console.err.print("some readiness probes have not answered yet")
    return query.load(sc.lab.name).plan


def report(results: list, output: str) -> bool:
    """Print check results (a table, or JSON/YAML); True when all passed."""
    if output in ("json", "yaml"):
        console.print_data([console.result_data(r) for r in results], output)
    elif results:
        console.out.print(console.results_text(results, console.out.is_terminal),
                          markup=console.out.is_terminal)
        console.out.print(console.counts_text(results))
    return all(r.passed for r in results)
