"""Namespace (v1): a name other documents may live in."""

from __future__ import annotations

from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Report
from netlab.scenario.registry import Loaded, Meta, kind


@kind("Namespace", ("v1",), schema.KINDS["Namespace"], namespaced=False,
      name_rule=validate.dns_label)
def load_namespace(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    loaded.namespaces.add(meta.name)
