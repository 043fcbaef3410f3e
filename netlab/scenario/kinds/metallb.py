"""MetalLB's configuration as users write it: the CRDs IPAddressPool and L2Advertisement
(metallb.io/v1beta1, MetalLB 0.13+), and the legacy ConfigMap metallb-system/config with its
``address-pools`` (MetalLB up to 0.12). Any other ConfigMap changes nothing in the lab."""

from __future__ import annotations

import ipaddress

import yaml

from netlab.model import AddressPool, L2Advertisement
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import boolean, whole
from netlab.scenario.registry import Loaded, Meta, kind

SPEC = Path("spec")
METALLB_NS = "metallb-system"


def address_range(r: Report, text: object, path: Path) -> tuple[str, str] | None:
    """"a-b" or a CIDR, as MetalLB parses them (IPv4 only)."""
    if not isinstance(text, str):
        r.add(path, "must be an address range (a-b) or a CIDR")
        return None
    try:
        if "-" in text:
            first, last = (ipaddress.IPv4Address(x.strip()) for x in text.split("-", 1))
            if last < first:
                raise ValueError("the range ends before it starts")
        else:
            net = ipaddress.IPv4Network(text.strip(), strict=False)
            first, last = net.network_address, net.broadcast_address
    except ValueError as exc:
        r.add(path, f"invalid address range {text!r}: {exc} (IPv6 pools are not supported "
                    "yet)" if ":" in text else f"invalid address range {text!r}: {exc}")
        return None
    return str(first), str(last)


def _selector(r: Report, value: object, path: Path) -> tuple[tuple[str, str], ...]:
    """A label selector's matchLabels (matchExpressions refused clearly)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        r.add(path, "must be a label selector")
        return ()
    if value.get("matchExpressions"):
        r.add(path.child("matchExpressions"), "matchExpressions are not supported yet; use "
                                              "matchLabels")
    match = value.get("matchLabels") or {}
    r.check(path.child("matchLabels"), validate.labels(match))
    return tuple(sorted(match.items())) if isinstance(match, dict) else ()


@kind("IPAddressPool", ("metallb.io/v1beta1",), schema.KINDS["IPAddressPool"])
def load_pool(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    addresses = spec.get("addresses") or []
    if not isinstance(addresses, list) or not addresses:
        r.add(SPEC.child("addresses"), "at least one address range is required")
        addresses = []
    ranges = [address_range(r, a, SPEC.child("addresses").index(i))
              for i, a in enumerate(addresses)]
    alloc = spec.get("serviceAllocation") or {}
    apath = SPEC.child("serviceAllocation")
    priority = whole(r, alloc.get("priority", 0), apath.child("priority"), 0, None,
                     "must be a whole number >= 0", 0)
    namespaces = alloc.get("namespaces") or []
    selectors = alloc.get("serviceSelectors") or []
    if len(selectors) > 1:
        r.add(apath.child("serviceSelectors"), "one service selector is supported")
    pool = AddressPool(
        meta.name, tuple(x for x in ranges if x),
        auto_assign=boolean(r, spec.get("autoAssign", True), SPEC.child("autoAssign"), True),
        avoid_buggy_ips=boolean(r, spec.get("avoidBuggyIPs", False),
                                SPEC.child("avoidBuggyIPs"), False),
        priority=priority, namespaces=tuple(str(n) for n in namespaces),
        service_selector=_selector(r, selectors[0] if selectors else None,
                                   apath.child("serviceSelectors").index(0)),
        namespace=meta.namespace)
    loaded.pools.append(pool)


@kind("L2Advertisement", ("metallb.io/v1beta1",), schema.KINDS["L2Advertisement"])
def load_l2(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    if spec.get("ipAddressPoolSelectors"):
        r.add(SPEC.child("ipAddressPoolSelectors"), "not supported yet; name the pools in "
                                                    "ipAddressPools")
    selectors = spec.get("nodeSelectors") or []
    if len(selectors) > 1:
        r.add(SPEC.child("nodeSelectors"), "one node selector is supported")
    loaded.advertisements.append(L2Advertisement(
        meta.name, tuple(str(p) for p in spec.get("ipAddressPools") or ()),
        _selector(r, selectors[0] if selectors else None,
                  SPEC.child("nodeSelectors").index(0)),
        tuple(str(i) for i in spec.get("interfaces") or ())))


@kind("ConfigMap", ("v1",), schema.KINDS["ConfigMap"])
def load_configmap(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    """MetalLB's legacy configuration; any other ConfigMap is accepted with no effect."""
    if (meta.namespace, meta.name) != (METALLB_NS, "config"):
        loaded.passive.append(("ConfigMap", f"{meta.namespace}/{meta.name}",
                               "no effect on the lab"))
        return
    text = (body.get("data") or {}).get("config")
    path = Path("data", "config")
    if not isinstance(text, str):
        r.add(path, "MetalLB's ConfigMap needs data.config (its address-pools)")
        return
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        r.add(path, f"not YAML: {str(exc).splitlines()[0]}")
        return
    pools = config.get("address-pools") if isinstance(config, dict) else None
    if not isinstance(pools, list) or not pools:
        r.add(path, "address-pools: at least one pool is required")
        return
    layer2 = []
    for i, p in enumerate(pools):
        ppath = path.child("address-pools").index(i)
        if not isinstance(p, dict) or not p.get("name"):
            r.add(ppath, "a pool needs a name")
            continue
        protocol = p.get("protocol", "layer2")
        if protocol != "layer2":
            r.add(ppath.child("protocol"), f"protocol {protocol!r} is not supported (layer2 "
                                           "is)")
            continue
        ranges = [address_range(r, a, ppath.child("addresses").index(j))
                  for j, a in enumerate(p.get("addresses") or [])]
        if not ranges:
            r.add(ppath.child("addresses"), "at least one address range is required")
        loaded.pools.append(AddressPool(
            str(p["name"]), tuple(x for x in ranges if x),
            auto_assign=bool(p.get("auto-assign", True)),
            avoid_buggy_ips=bool(p.get("avoid-buggy-ips", False))))
        layer2.append(str(p["name"]))
    # MetalLB 0.12 announced every layer2 pool from every node
    loaded.advertisements.append(L2Advertisement("config", tuple(layer2)))
