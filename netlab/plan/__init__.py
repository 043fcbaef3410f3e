"""Pure decisions: names, addresses, placement, endpoints."""
