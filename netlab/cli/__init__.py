"""The ``netlab`` command: thin click commands, one module per verb group, each turning flags
into one call of the layers below and printing the result.

    base.py     the group, error handling (one line and an exit code, never a traceback)
    labs.py     up, down, status, test, steps
    inspect.py  get, describe
    changes.py  apply, delete, scale
    run.py      exec, check
    trace.py    trace (and graph)
"""

from netlab.cli import changes, inspect, labs, run, trace  # noqa: F401 (they register commands)
from netlab.cli.base import main

__all__ = ["main"]
