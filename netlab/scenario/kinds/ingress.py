"""Ingress (``networking.k8s.io/v1``, and the legacy ``networking.k8s.io/v1beta1`` and
``extensions/v1beta1`` converted as the apiserver converted them: ``serviceName``/
``servicePort`` become ``service.name``/``service.port``, ``spec.backend`` becomes
``spec.defaultBackend``, a path without ``pathType`` is ImplementationSpecific) and
IngressClass. Validation is the apiserver's, plus what ingress-nginx refuses: the
``*-snippet`` annotations (raw nginx configuration, CVE-2021-25742 and CVE-2025-1974) and
values that would not stay inside their nginx directive."""

from __future__ import annotations

import base64
import re

from netlab.model import (
    Ingress,
    IngressBackend,
    IngressClass,
    IngressPath,
    IngressRule,
    TlsSecret,
)
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import host_name
from netlab.scenario.registry import Loaded, Meta, kind

SPEC = Path("spec")
V1 = "networking.k8s.io/v1"
LEGACY = ("networking.k8s.io/v1beta1", "extensions/v1beta1")
PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
NGINX = "nginx.ingress.kubernetes.io/"
# characters that would end an nginx directive or string: never in a path, host or value
_UNSAFE = re.compile(r"[\s\"';{}#\\]|\$\{")
_UNSAFE_REGEX = re.compile(r"[\s\"';#]|\$\{")  # a regex path is quoted: braces are fine
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
_URI = re.compile(r"^/(?:[A-Za-z0-9/_.~%?=&:+-]|\$[0-9])*$")  # $n: a capture, no variables
KNOWN = ("rewrite-target", "use-regex", "app-root", "ssl-redirect", "force-ssl-redirect",
         "backend-protocol", "canary", "canary-by-header", "canary-by-header-value",
         "canary-by-header-pattern", "canary-by-cookie", "canary-weight",
         "canary-weight-total", "affinity", "affinity-mode", "session-cookie-name",
         "proxy-connect-timeout", "proxy-send-timeout", "proxy-read-timeout",
         "proxy-body-size")


def _backend(r: Report, b: object, path: Path, legacy: bool) -> IngressBackend | None:
    if not isinstance(b, dict):
        r.add(path, "must be a mapping with a service")
        return None
    if b.get("resource") is not None:
        r.add(path.child("resource"), "resource backends are not supported (only Services)")
        return None
    if legacy:
        name, port = b.get("serviceName"), b.get("servicePort")
        npath, ppath = path.child("serviceName"), path.child("servicePort")
    else:
        svc = b.get("service")
        if not isinstance(svc, dict):
            r.add(path.child("service"), "a backend needs a service (name and port)")
            return None
        name, p = svc.get("name"), svc.get("port")
        npath, ppath = path.child("service", "name"), path.child("service", "port")
        if not isinstance(p, dict) or ("number" in p) == ("name" in p):
            r.add(ppath, "exactly one of port.number and port.name is required")
            return None
        port = p.get("number", p.get("name"))
        ppath = ppath.child("number" if "number" in p else "name")
    if not r.check(npath, validate.dns_label(name)):
        return None
    if isinstance(port, int) and not isinstance(port, bool):
        if not r.check(ppath, validate.port_number(port)):
            return None
    elif not r.check(ppath, validate.port_name(port)):
        return None
    return IngressBackend(name, port)


def _host(r: Report, host: object, path: Path) -> str:
    """A rule's host ("" : none, any host)."""
    return "" if host in (None, "") else host_name(r, host, path)


def _path(r: Report, p: object, path: Path, legacy: bool, regex: bool) -> IngressPath | None:
    if not isinstance(p, dict):
        r.add(path, "must be a mapping")
        return None
    kind_ = p.get("pathType", "ImplementationSpecific" if legacy else None)
    if kind_ not in PATH_TYPES:
        r.add(path.child("pathType"), "pathType is required: Exact, Prefix or "
                                      f"ImplementationSpecific, got {kind_!r}")
        return None
    text = p.get("path", "" if legacy or kind_ == "ImplementationSpecific" else None)
    backend = _backend(r, p.get("backend"), path.child("backend"), legacy)
    ppath = path.child("path")
    if not isinstance(text, str) or (text and not text.startswith("/")) or \
            (kind_ != "ImplementationSpecific" and not text):
        r.add(ppath, f"must be an absolute path, got {text!r}")
        return None
    if kind_ != "ImplementationSpecific" and re.search(r"//|/\./|/\.\./|/\.\.?$", text):
        r.add(ppath, f"must not contain '//', '/./' or '/../' segments: {text!r}")
        return None
    if (_UNSAFE_REGEX if regex else _UNSAFE).search(text):
        r.add(ppath, f"has characters an nginx location cannot hold: {text!r}")
        return None
    return IngressPath(text, kind_, backend) if backend else None


def _annotations(r: Report, ann: dict) -> None:
    """ingress-nginx's refusals, and values that must stay inside their directive."""
    path = Path("metadata", "annotations")
    for key, value in ann.items():
        if not isinstance(key, str) or not key.startswith(NGINX):
            continue
        short = key[len(NGINX):]
        kpath = path.key(key)
        if short.endswith("-snippet") or short.endswith("snippets"):
            r.add(kpath, f"{short} is refused: raw nginx configuration from an Ingress was "
                         "ingress-nginx's CVE surface (CVE-2021-25742, CVE-2025-1974)")
            continue
        text = str(value)
        if short in ("rewrite-target", "app-root") and not _URI.match(text):
            r.add(kpath, f"must be a path such as / or /$2, got {text!r}")
        elif short in ("canary-by-header", "session-cookie-name", "canary-by-cookie") and \
                not _HEADER.match(text):
            r.add(kpath, f"must be a header or cookie name (letters, digits, '-'), got {text!r}")
        elif short == "canary-by-header-value" and not _TOKEN.match(text):
            r.add(kpath, f"must be letters, digits and ._~-, got {text!r}")
        elif short == "canary-by-header-pattern" and _UNSAFE_REGEX.search(text):
            r.add(kpath, f"has characters an nginx map cannot hold: {text!r}")
        elif short in ("canary-weight", "canary-weight-total", "proxy-connect-timeout",
                       "proxy-send-timeout", "proxy-read-timeout") and \
                not re.fullmatch(r"[0-9]{1,6}", text):
            r.add(kpath, f"must be a whole number, got {text!r}")
        elif short in ("use-regex", "canary", "ssl-redirect", "force-ssl-redirect") and \
                text not in ("true", "false"):
            r.add(kpath, f"must be \"true\" or \"false\", got {text!r}")
        elif short == "backend-protocol" and text.upper() not in ("HTTP", "HTTPS"):
            r.add(kpath, f"backend-protocol {text!r} is not supported (HTTP, HTTPS are)")
        elif short == "affinity" and text != "cookie":
            r.add(kpath, f"affinity must be \"cookie\", got {text!r}")
        elif short == "proxy-body-size" and not re.fullmatch(r"[0-9]{1,9}[kKmMgG]?", text):
            r.add(kpath, f"must be a size such as 8m, got {text!r}")


@kind("Ingress", (V1, *LEGACY), schema.KINDS["Ingress"])
def load_ingress(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    legacy = body.get("apiVersion") in LEGACY
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    ann = (body.get("metadata") or {}).get("annotations") or {}
    if not isinstance(ann, dict):
        ann = {}
    _annotations(r, ann)
    regex = str(ann.get(NGINX + "use-regex")) == "true" or NGINX + "rewrite-target" in ann
    default = spec.get("backend" if legacy else "defaultBackend")
    default_backend = _backend(r, default, SPEC.child("backend" if legacy else "defaultBackend"),
                               legacy) if default is not None else None
    rules = []
    for i, rule in enumerate(spec.get("rules") or []):
        rpath = SPEC.child("rules").index(i)
        if not isinstance(rule, dict):
            r.add(rpath, "must be a mapping")
            continue
        host = _host(r, rule.get("host"), rpath.child("host"))
        paths = (rule.get("http") or {}).get("paths") or []
        if not paths:
            r.add(rpath.child("http", "paths"), "at least one path is required")
        got = [_path(r, p, rpath.child("http", "paths").index(j), legacy, regex)
               for j, p in enumerate(paths)]
        rules.append(IngressRule(host, tuple(p for p in got if p)))
    if not rules and default is None:
        r.add(SPEC, "either spec.defaultBackend or spec.rules is required")
    tls = []
    for i, t in enumerate(spec.get("tls") or []):
        tpath = SPEC.child("tls").index(i)
        hosts = tuple(_host(r, h, tpath.child("hosts").index(j))
                      for j, h in enumerate((t or {}).get("hosts") or []))
        tls.append((hosts, str((t or {}).get("secretName") or "")))
    class_name = spec.get("ingressClassName") or ann.get(CLASS_ANNOTATION) or ""
    if class_name and not r.check(SPEC.child("ingressClassName"),
                                  validate.dns_subdomain(class_name)):
        class_name = ""
    loaded.ingresses.append(Ingress(
        meta.name, meta.namespace, str(class_name),
        tuple(sorted((str(k), str(v)) for k, v in ann.items())), tuple(rules),
        default_backend, tuple(tls)))


@kind("IngressClass", (V1, "networking.k8s.io/v1beta1"), schema.KINDS["IngressClass"],
      namespaced=False)
def load_ingress_class(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    controller = spec.get("controller")
    if not isinstance(controller, str) or not controller:
        r.add(SPEC.child("controller"), "controller is required (k8s.io/ingress-nginx, ...)")
        controller = ""
    ann = (body.get("metadata") or {}).get("annotations") or {}
    default = isinstance(ann, dict) and str(ann.get(DEFAULT_CLASS)) == "true"
    loaded.ingress_classes.append(IngressClass(meta.name, controller, default))


TLS_TYPE = "kubernetes.io/tls"


@kind("Secret", ("v1",), schema.KINDS["Secret"])
def load_secret(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    """A kubernetes.io/tls Secret is a certificate an Ingress may name; any other Secret
    changes nothing in the lab."""
    if body.get("type") != TLS_TYPE:
        loaded.passive.append(("Secret", f"{meta.namespace}/{meta.name}",
                               "no effect on the lab"))
        return
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    plain = body.get("stringData") if isinstance(body.get("stringData"), dict) else {}
    pem = {}
    for field_, marker in (("tls.crt", "-----BEGIN CERTIFICATE-----"),
                           ("tls.key", "PRIVATE KEY-----")):
        text = plain.get(field_)
        path = Path("stringData" if text is not None else "data").key(field_)
        if text is None and field_ in data:
            try:
                text = base64.b64decode(str(data[field_]), validate=True).decode("ascii")
            except (ValueError, UnicodeDecodeError):
                r.add(path, "must be base64 of a PEM text")
                continue
        if not isinstance(text, str) or marker not in text:
            r.add(path, f"a {TLS_TYPE} Secret needs {field_} in PEM ({marker})")
            continue
        pem[field_] = text
    if len(pem) == 2:
        loaded.tls_secrets.append(TlsSecret(meta.name, meta.namespace, pem["tls.crt"],
                                            pem["tls.key"]))
