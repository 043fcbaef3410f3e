"""The benchmark scripts run as a user runs them (no python named, no venv activated) and
print what their documentation promises. Figures are not asserted: they are measured by the
scripts and reported in the issue notes.

Each script makes its own namespaces (named after its process id) and removes them.
"""

from __future__ import annotations

import pathlib
import subprocess

import pytest

pytestmark = pytest.mark.root

SCRIPTS = pathlib.Path(__file__).parents[2] / "scripts"


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPTS / argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=300, check=False)


def test_bench_datapath_prints_a_row_per_mode_and_size():
    r = run("bench-datapath", "--no-vm", "--seconds", "0.2", "--modes", "iptables,nftables",
            "20", "50")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["mode", "services", "sync", "s", "conn/s", "p50"]
    rows = [line.split() for line in lines[1:]]
    assert [(row[0], row[1]) for row in rows] == [
        ("iptables", "20"), ("iptables", "50"), ("nftables", "20"), ("nftables", "50")]
    assert all(float(row[3]) > 0 for row in rows)  # connections went through the service


def test_bench_datapath_refuses_a_bad_argument():
    r = run("bench-datapath", "--modes", "ebpf")
    assert r.returncode == 2 and "Usage: sudo scripts/bench-datapath" in r.stderr


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_bench_sync_runs_without_naming_a_python(mode):
    r = run("bench-sync", "--mode", mode, "30")
    assert r.returncode == 0, r.stderr
    last = r.stdout.splitlines()[-1]
    assert last.startswith("services=30 full_s=") and " partial_s=" in last
