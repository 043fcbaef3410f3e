"""Fixtures for root integration tests: labs with names unique to this run, always removed.

Address plan (every lab here): pods 10.244.0.0/16 (node i: 10.244.i.0/24), services
10.96.0.0/12, lab network 172.18.0.0/24 (nodes .2.., clients .254 down). These ranges exist only
inside the labs' namespaces; the root namespace never routes them.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest

from netlab.kernel import cgroups
from netlab.kernel.ns import NETNS_RUN_DIR
from netlab.lifecycle.down import teardown
from netlab.lifecycle.up import up
from netlab.plan.naming import NS_PREFIX, RUN_DIR
from tests.helpers import scenario

RUN_ID = f"it{os.getpid() % 100000}"
_counter = itertools.count()

pytestmark = pytest.mark.root


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.root)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="needs root (run: sudo scripts/test)"))


def unique_name(tag: str = "") -> str:
    return f"{RUN_ID}-{tag}{next(_counter)}"[:40].rstrip("-")


def leftovers() -> list[str]:
    """Anything of this run's labs still on the machine."""
    out = []
    prefix = f"{NS_PREFIX}.{RUN_ID}-"
    if os.path.isdir(NETNS_RUN_DIR):
        out += [f"netns {n}" for n in os.listdir(NETNS_RUN_DIR) if n.startswith(prefix)]
    if os.path.isdir(RUN_DIR):
        out += [f"lab dir {n}" for n in os.listdir(RUN_DIR) if n.startswith(RUN_ID + "-")]
    top = os.path.dirname(cgroups.lab_path("x"))
    if os.path.isdir(top):
        out += [f"cgroup {n}" for n in os.listdir(top) if n.startswith(RUN_ID + "-")]
    return out


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    yield
    left = leftovers()
    for entry in left:  # clean up so one failure does not pollute the machine
        if entry.startswith("lab dir "):
            teardown(entry.split()[-1])
        elif entry.startswith("cgroup "):
            cgroups.remove(cgroups.lab_path(entry.split()[-1]))
    assert not left, f"tests left these behind: {left}"


@pytest.fixture
def make_lab():
    """Build labs from scenario documents; every one is torn down at the end of the test."""
    names: list[str] = []

    def build(*docs: str, tag: str = ""):
        name = unique_name(tag)
        text = [d.replace("name: t}", f"name: {name}}}", 1) if i == 0 else d
                for i, d in enumerate(docs)]
        sc = scenario(*text)
        assert sc.lab.name == name
        names.append(name)
        return up(sc)

    yield build
    for name in names:
        teardown(name)


def netlab(*args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real CLI."""
    return subprocess.run([sys.executable, "-m", "netlab.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=check)


def in_ns(netns: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net={NETNS_RUN_DIR}/{netns}", "--", *argv],
                          capture_output=True, text=True, timeout=timeout, check=False)


def wait_for(what: str, pred, timeout_s: float = 20.0):
    """Poll PRED (the thing a user would look at) until it gives something true; its value.
    Past TIMEOUT_S the test fails, saying what it waited for."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
