"""Name and value rules, as Kubernetes applies them (apimachinery validation)."""

from __future__ import annotations

import re

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def dns_label(value: object) -> str | None:
    """None if VALUE is an RFC 1123 label, else the reason."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 63:
        return f"'{value}' is {len(value)} characters, the limit is 63"
    if not _DNS_LABEL.match(value):
        return (f"'{value}' is not a DNS label (lower case letters, digits and '-', "
                "starting and ending with a letter or digit)")
    return None


def dns1035_label(value: object) -> str | None:
    reason = dns_label(value)
    if reason:
        return reason
    if not _DNS1035_LABEL.match(str(value)):
        return f"'{value}' must start with a lower case letter (RFC 1035 label)"
    return None


def dns_subdomain(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 253:
        return f"'{value}' is {len(value)} characters, the limit is 253"
    for part in value.split("."):
        if not _DNS_LABEL.match(part):
            return f"'{value}' is not a DNS subdomain (lower case letters, digits, '-' and '.')"
    return None


def port_name(value: object) -> str | None:
    """IANA service name, as Kubernetes requires for named ports."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 15:
        return f"port name '{value}' is {len(value)} characters, the limit is 15"
    if not _IANA_SVC_NAME.match(value) or "--" in value:
        return f"port name '{value}' must be lower case letters, digits and single '-'"
    if not re.search(r"[a-z]", value):
        return f"port name '{value}' must contain at least one letter"
    return None


def port_number(value: object, *, allow_zero: bool = False) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a port number, got {value!r}"
    low = 0 if allow_zero else 1
    if not low <= value <= 65535:
        return f"port {value} is out of range {low}-65535"
    return None


def labels(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return "must be a mapping of label names to values"
    for k, v in value.items():
        name = str(k).rsplit("/", 1)[-1]
        if not isinstance(k, str) or not _LABEL_NAME.match(name) or len(name) > 63:
            return f"label name '{k}' is not valid"
        if not isinstance(v, str):
            return f"label '{k}' must have a string value (quote it), got {v!r}"
        if len(v) > 63 or not _LABEL_VALUE.match(v):
            return f"label value '{v}' of '{k}' is not valid"
    return None
