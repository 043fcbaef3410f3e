"""Which service ports changed since the last sync, as kube-proxy's change trackers keep it
(``pkg/proxy/servicechangetracker.go``, ``endpointschangetracker.go``).

Keyed per service port (ServicePortName and protocol): for each key, the view as the last sync
wrote it and the view now. Updates merge into what is pending, and a change that cancels out
(a pod that went unready and ready again before the next sync) is dropped, so only services
that really differ are synced. Adding or removing one service marks that service alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from netlab.proxy.core import ServicePortView

Key = tuple[str, str]


class ChangeTracker:
    def __init__(self, synced: Iterable[ServicePortView] = ()) -> None:
        self._current: dict[Key, ServicePortView] = {v.key: v for v in synced}
        # key -> (the view at the last sync, the view now); None: absent
        self._pending: dict[Key, tuple[ServicePortView | None, ServicePortView | None]] = {}

    def update(self, key: Key, previous: ServicePortView | None,
               current: ServicePortView | None) -> None:
        """One change of one service port, as an event (previous, current)."""
        if previous == current:
            return
        first = self._pending[key][0] if key in self._pending else previous
        if first == current:
            del self._pending[key]  # back to what the last sync wrote
        else:
            self._pending[key] = (first, current)

    def observe(self, views: Iterable[ServicePortView]) -> None:
        """Record the service ports as they are now (every key that differs from the last
        observation becomes an update)."""
        now = {v.key: v for v in views}
        for key in self._current.keys() | now.keys():
            self.update(key, self._current.get(key), now.get(key))
        self._current = now

    def changed_services(self) -> set[str]:
        """namespace/name of every service with a pending change."""
        return {(before or after).service for before, after in self._pending.values()
                if before or after}

    def pending(self) -> dict[Key, tuple[ServicePortView | None, ServicePortView | None]]:
        return dict(self._pending)

    def synced(self) -> None:
        """The pending changes are in the kernel now."""
        self._pending.clear()
