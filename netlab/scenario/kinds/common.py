"""Checks several kinds share: labels, ports and protocols, addresses, string lists."""

from __future__ import annotations

import ipaddress
import re

from netlab.scenario import validate
from netlab.scenario.fieldpath import Path, Report

PROTOCOLS = ("TCP", "UDP", "SCTP")


def labels(r: Report, path: Path, value: object) -> tuple[tuple[str, str], ...]:
    if not r.check(path, validate.labels(value)):
        return ()
    return tuple(sorted((value or {}).items()))


def port_proto(r: Report, p: object, key: str, path: Path) -> tuple[int, str] | None:
    """The port number under KEY and the protocol (TCP, UDP or SCTP) of a port mapping."""
    if not isinstance(p, dict):
        r.add(path, "must be a mapping")
        return None
    ok = r.check(path.child(key), validate.port_number(p.get(key)))
    proto = p.get("protocol", "TCP")
    if proto not in PROTOCOLS:
        r.add(path.child("protocol"), f"protocol must be TCP, UDP or SCTP, got {proto!r}")
        ok = False
    return (p[key], proto) if ok else None


def ipv4(r: Report, value: object, path: Path) -> str | None:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        r.add(path, f"{value!r} is not an IPv4 address")
        return None


def str_list(r: Report, value: object, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        r.add(path, "must be a list of strings")
        return ()
    return tuple(str(v) for v in value)


def boolean(r: Report, value: object, path: Path, default: bool) -> bool:
    return r.value(path, value, lambda v: isinstance(v, bool), "must be true or false", default)


def whole(r: Report, value: object, path: Path, low: int, high: int | None, message: str,
          default: int) -> int:
    """A whole number from LOW to HIGH (no HIGH: no upper bound)."""
    return r.value(path, value, lambda v: not isinstance(v, bool) and isinstance(v, int)
                   and low <= v and (high is None or v <= high), message, default)


def host_name(r: Report, value: object, path: Path) -> str:
    """A host name as Ingress rules and the Gateway API take it: a DNS subdomain, optionally
    with a leading "*." (one label), never an IP address. "" when it is not one."""
    if not isinstance(value, str) or not value:
        r.add(path, "must be a host name")
        return ""
    bare = value[2:] if value.startswith("*.") else value
    if re.fullmatch(r"[0-9.]+", bare):
        r.add(path, f"must be a DNS name, not an IP address: {value!r}")
        return ""
    if not r.check(path, validate.dns_subdomain(bare) and
                   f"must be a DNS subdomain, optionally with a leading '*.': {value!r}"):
        return ""
    return value
