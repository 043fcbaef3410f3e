"""Kernel module detection and the kernel preflight of `up` (no root).

Nothing here touches the kernel: the /proc, /sys and /lib/modules a module check reads are a
fake tree in a temporary folder, and the preflight is given module states.
"""

import pytest

from netlab.errors import KernelFeatureError, UsageError
from netlab.kernel import features
from netlab.lifecycle.preflight import check_kernel
from netlab.model import LabSpec

RELEASE = "6.1.0-test"


def kernel_tree(tmp_path, *, dep: str = "", builtin: str | None = "", present=()):
    """A fake root: /lib/modules/RELEASE/{modules.dep,modules.builtin} and marker paths."""
    mods = tmp_path / "lib" / "modules" / RELEASE
    mods.mkdir(parents=True)
    (mods / "modules.dep").write_text(dep)
    if builtin is not None:
        (mods / "modules.builtin").write_text(builtin)
    for path in present:
        (tmp_path / path.lstrip("/")).mkdir(parents=True)
    return str(tmp_path)


def test_a_module_on_disk_is_loadable_not_present(tmp_path):
    root = kernel_tree(tmp_path, dep="kernel/net/bridge/br_netfilter.ko.xz: kernel/net/bridge/"
                                      "bridge.ko.xz\nkernel/net/netfilter/ipvs/ip_vs.ko.xz:\n")
    assert features.module_state("br_netfilter", RELEASE, root) == features.LOADABLE
    assert features.module_state("ip_vs", RELEASE, root) == features.LOADABLE
    assert features.module_state("dummy", RELEASE, root) == features.ABSENT


def test_loaded_or_built_in_is_present(tmp_path):
    root = kernel_tree(tmp_path, builtin="kernel/drivers/net/dummy.ko\n",
                       present=["/proc/sys/net/bridge", "/sys/module/ip_vs_rr"])
    assert features.module_state("br_netfilter", RELEASE, root) == features.PRESENT
    assert features.module_state("dummy", RELEASE, root) == features.PRESENT
    assert features.module_state("ip_vs", RELEASE, root) == features.ABSENT
    (tmp_path / "proc/net/ip_vs").mkdir(parents=True)
    assert features.module_state("ip_vs", RELEASE, root) == features.PRESENT
    assert features.module_state("ip_vs_rr", RELEASE, root) == features.PRESENT


def test_a_scheduler_counts_as_present_only_when_nothing_can_tell(tmp_path):
    root = kernel_tree(tmp_path, builtin=None, present=["/proc/net/ip_vs"])
    assert features.module_state("ip_vs_wrr", RELEASE, root) == features.PRESENT  # can't tell
    other = kernel_tree(tmp_path / "b", present=["/proc/net/ip_vs"])  # listed nowhere: absent
    assert features.module_state("ip_vs_wrr", RELEASE, other) == features.ABSENT


def test_sysctl_exists_reads_proc_sys(tmp_path):
    (tmp_path / "proc/sys/net/ipv4/vs").mkdir(parents=True)
    (tmp_path / "proc/sys/net/ipv4/vs/conntrack").write_text("0\n")
    assert features.sysctl_exists("net.ipv4.vs.conntrack", str(tmp_path))
    assert not features.sysctl_exists("net.bridge.bridge-nf-call-iptables", str(tmp_path))


def preflight(monkeypatch, states: dict[str, str], sysctls=frozenset()):
    monkeypatch.setattr(features, "module_state",
                        lambda m, release=None, root="/": states.get(m, features.PRESENT))
    monkeypatch.setattr(features, "sysctl_exists", lambda key, root="/": key not in sysctls)


def test_a_loadable_module_gets_the_exact_command(monkeypatch):
    preflight(monkeypatch, {"br_netfilter": features.LOADABLE})
    with pytest.raises(KernelFeatureError) as err:
        check_kernel(LabSpec(name="t"))
    text = str(err.value)
    assert "\n" not in text and err.value.exit_code == 2
    assert "has not loaded br_netfilter" in text
    assert "'modprobe -a br_netfilter'" in text and "scripts/setup" in text


def test_ipvs_needs_every_module_loaded_not_only_on_disk(monkeypatch):
    loadable = {m: features.LOADABLE for m in ("ip_vs", "ip_vs_wrr", "dummy")}
    preflight(monkeypatch, loadable)
    with pytest.raises(KernelFeatureError, match=r"'modprobe -a ip_vs ip_vs_wrr dummy'"):
        check_kernel(LabSpec(name="t", proxy_mode="ipvs", ipvs_scheduler="wrr"))
    check_kernel(LabSpec(name="t"))  # iptables mode does not need them


def test_an_absent_module_names_the_kernel_option_and_the_vm(monkeypatch):
    preflight(monkeypatch, {"ip_vs": features.ABSENT, "dummy": features.ABSENT,
                            "br_netfilter": features.LOADABLE})
    with pytest.raises(KernelFeatureError) as err:
        check_kernel(LabSpec(name="t", proxy_mode="ipvs"))
    text = str(err.value)
    assert "ip_vs (CONFIG_IP_VS) and dummy (CONFIG_DUMMY)" in text
    assert "scripts/vm-run" in text and "scripts/vm-test" in text
    assert "'modprobe -a br_netfilter'" in text and "\n" not in text


def test_every_sysctl_netlab_writes_is_checked(monkeypatch):
    preflight(monkeypatch, {}, {"net.ipv4.conf.all.route_localnet"})
    with pytest.raises(KernelFeatureError, match="sysctl net.ipv4.conf.all.route_localnet"):
        check_kernel(LabSpec(name="t"))
    # a sysctl whose module is missing is explained by the module, once
    preflight(monkeypatch, {"ip_vs": features.LOADABLE}, {"net.ipv4.vs.conntrack"})
    with pytest.raises(KernelFeatureError) as err:
        check_kernel(LabSpec(name="t", proxy_mode="ipvs"))
    assert "sysctl" not in str(err.value) and "modprobe -a ip_vs'" in str(err.value)


def test_nftables_mode_needs_nft(monkeypatch):
    import netlab.lifecycle.preflight as pre

    preflight(monkeypatch, {})
    check_kernel(LabSpec(name="t", proxy_mode="nftables"))  # nft is here: go ahead

    def missing(tool: str) -> str:
        raise UsageError(f"{tool} is not installed: run scripts/setup")
    monkeypatch.setattr(pre, "require_tool", missing)
    with pytest.raises(UsageError, match="nft is not installed"):
        check_kernel(LabSpec(name="t", proxy_mode="nftables"))
    check_kernel(LabSpec(name="t", proxy_mode="ipvs"))  # all present: go ahead


def test_a_scheduler_without_ip_vs_is_absent(tmp_path):
    root = kernel_tree(tmp_path, builtin=None)
    (tmp_path / "sys/module/ip_vs_rr").mkdir(parents=True)
    assert features.module_state("ip_vs_rr", RELEASE, root) == features.ABSENT
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/ip_vs").write_text("")
    assert features.module_state("ip_vs_rr", RELEASE, root) == features.PRESENT
