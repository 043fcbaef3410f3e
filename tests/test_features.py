"""Kernel feature detection and proxy mode preflight (no root).

Nothing here touches the kernel: /lib/modules contents are faked in a temporary folder.
"""

import pytest

from netlab import controller
from netlab.errors import KernelFeatureError, UsageError
from netlab.kernel import features


def test_missing_reads_markers_and_module_lists(tmp_path, monkeypatch):
    release = "6.1.0-test"
    mods = tmp_path / release
    mods.mkdir()
    (mods / "modules.builtin").write_text("kernel/drivers/net/dummy.ko\n")
    (mods / "modules.dep").write_text(
        "kernel/net/netfilter/ipvs/ip_vs.ko.xz: kernel/lib/libcrc32c.ko.xz\n")
    monkeypatch.setattr(features, "_module_available", lambda m, r: _available(mods, m))
    monkeypatch.setattr(features.os.path, "exists", lambda p: False)
    assert features.missing(["ip_vs", "dummy"], release) == []
    (mods / "modules.dep").write_text("")
    (mods / "modules.builtin").write_text("")
    assert features.missing(["ip_vs", "dummy"], release) == ["ip_vs", "dummy"]


def _available(mods, module):
    text = (mods / "modules.builtin").read_text() + (mods / "modules.dep").read_text()
    return any(line.split(":", 1)[0].rsplit("/", 1)[-1].startswith(f"{module}.ko")
               for line in text.splitlines())


def test_proxy_mode_preflight(monkeypatch):
    monkeypatch.setattr(features, "missing", lambda names, release=None: ["ip_vs", "dummy"])
    with pytest.raises(KernelFeatureError, match=r"IPVS \(ip_vs\) and dummy interfaces"):
        controller.check_proxy_mode("ipvs")
    monkeypatch.setattr(features, "missing", lambda names, release=None: [])
    controller.check_proxy_mode("ipvs")  # the kernel can: go ahead
    with pytest.raises(UsageError, match="proxyMode nftables is not implemented yet"):
        controller.check_proxy_mode("nftables")
    controller.check_proxy_mode("iptables")
