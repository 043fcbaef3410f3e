"""Probe bookkeeping, as the kubelet does it. Pure: results in, ready/alive out."""

from __future__ import annotations

from dataclasses import dataclass

from netlab.model import Probe


@dataclass
class ProbeTracker:
    probe: Probe
    started: float  # when the container started (monotonic seconds)
    ok_streak: int = 0
    fail_streak: int = 0
    passing: bool = False  # readiness starts false; liveness is judged by failures only
    next_due: float = 0.0

    def __post_init__(self) -> None:
        self.next_due = self.started + self.probe.initial_delay

    def due(self, now: float) -> bool:
        return now >= self.next_due

    def record(self, ok: bool, now: float) -> bool:
        """Record one result; True when the verdict (passing) changed."""
        self.next_due = now + self.probe.period
        before = self.passing
        if ok:
            self.ok_streak, self.fail_streak = self.ok_streak + 1, 0
            if self.ok_streak >= self.probe.success_threshold:
                self.passing = True
        else:
            self.ok_streak, self.fail_streak = 0, self.fail_streak + 1
            if self.fail_streak >= self.probe.failure_threshold:
                self.passing = False
        return before != self.passing

    @property
    def judged(self) -> bool:
        """At least one result came in."""
        return self.ok_streak + self.fail_streak > 0

    @property
    def failed(self) -> bool:
        """A liveness probe has failed failureThreshold times in a row."""
        return self.fail_streak >= self.probe.failure_threshold
