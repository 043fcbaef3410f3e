"""Cluster DNS: the zone (pure, from the lab's plan) and the server that answers from it."""
