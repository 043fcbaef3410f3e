"""Every shipped scenario passes its own checks through `netlab test` (the lessons work).

Each runs under a lab name unique to the test run (the file is copied with its Lab renamed).
"""

from __future__ import annotations

import pathlib
import re

import pytest

from tests.integration.conftest import netlab, unique_name

pytestmark = pytest.mark.root

SCENARIOS = sorted((pathlib.Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
# IPVS lessons need ip_vs and dummy: they run where the kernel has them (the VM harness)
PARAMS = [pytest.param(p, id=p.stem, marks=[pytest.mark.vm] if "proxyMode: ipvs" in
                       p.read_text() else []) for p in SCENARIOS]


@pytest.mark.parametrize("path", PARAMS)
def test_shipped_scenario_passes_its_checks(path, tmp_path):
    text = path.read_text()
    assert "kind: Check" in text, f"{path.name} ships no checks"
    name = unique_name("sc")
    renamed = re.sub(r"(kind: Lab\nmetadata:\n  name: )\S+", rf"\g<1>{name}", text, count=1)
    assert renamed != text, "the scenario's Lab name was not found"
    copy = tmp_path / path.name
    copy.write_text(renamed)
    r = netlab("test", str(copy), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout
