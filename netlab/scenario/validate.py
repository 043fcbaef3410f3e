"""Name and value rules, as Kubernetes applies them (apimachinery validation)."""

from __future__ import annotations

import re

# Every pattern is used with fullmatch: "$" would let a trailing newline through.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_IANA_SVC_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def dns_label(value: object) -> str | None:
    """None if VALUE is an RFC 1123 label, else the reason."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 63:
        return f"'{value}' is {len(value)} characters, the limit is 63"
    if not _DNS_LABEL.fullmatch(value):
        return (f"'{value}' is not a DNS label (lower case letters, digits and '-', "
                "starting and ending with a letter or digit)")
    return None


def dns1035_label(value: object) -> str | None:
    reason = dns_label(value)
    if reason:
        return reason
    if not _DNS1035_LABEL.fullmatch(str(value)):
        return f"'{value}' must start with a lower case letter (RFC 1035 label)"
    return None


def dns_subdomain(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 253:
        return f"'{value}' is {len(value)} characters, the limit is 253"
    for part in value.split("."):
        if not _DNS_LABEL.fullmatch(part):
            return f"'{value}' is not a DNS subdomain (lower case letters, digits, '-' and '.')"
    return None


def port_name(value: object) -> str | None:
    """IANA service name, as Kubernetes requires for named ports."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 15:
        return f"port name '{value}' is {len(value)} characters, the limit is 15"
    if not _IANA_SVC_NAME.fullmatch(value) or "--" in value:
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
        reason = qualified_name(k)
        if reason:
            return f"label name {reason}"
        if not isinstance(v, str):
            return f"label '{k}' must have a string value (quote it), got {v!r}"
        if len(v) > 63 or not _LABEL_VALUE.fullmatch(v):
            return f"label value {v!r} of '{k}' is not valid (at most 63 characters: letters, " \
                   "digits, '-', '_', '.', starting and ending with a letter or digit)"
    return None


def qualified_name(value: object) -> str | None:
    """[prefix/]name, as label keys and annotation keys are: the prefix a DNS subdomain,
    the name at most 63 characters (IsQualifiedName)."""
    if not isinstance(value, str) or not value:
        return f"{value!r} must be a non-empty string"
    prefix, sep, name = value.rpartition("/")
    if sep and (not prefix or dns_subdomain(prefix)):
        return f"{value!r} has a prefix that is not a DNS subdomain"
    if len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return f"{value!r} is not a qualified name (at most 63 characters: letters, digits, " \
               "'-', '_', '.', starting and ending with a letter or digit)"
    return None
