"""What a lab created: the journal (written before each change), the lock, the saved state."""

from netlab.state.store import LabDir, list_labs

__all__ = ["LabDir", "list_labs"]
