"""Reachability checks: curl, ping, dig and TCP connects run inside lab namespaces."""
