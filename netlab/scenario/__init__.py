"""YAML to a validated Scenario. No side effects: reading files is all it does."""

from netlab.scenario.loader import load_scenario, parse_documents, validate_host_overlap

__all__ = ["load_scenario", "parse_documents", "validate_host_overlap"]
