"""Imported first by the scripts/bench-* scripts: run them under netlab's virtual environment
(.venv, made by scripts/setup), so `scripts/bench-sync 10000` works without naming its python."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
PYTHON = os.path.join(VENV, "bin", "python")

if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
    if not os.path.exists(PYTHON):
        sys.exit(f"{sys.argv[0]}: no {PYTHON}: run scripts/setup first")
    os.execv(PYTHON, [PYTHON, *sys.argv])
sys.path.insert(0, ROOT)
