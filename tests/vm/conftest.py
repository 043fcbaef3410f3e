"""VM tests reuse the integration fixtures (unique lab names, nothing left behind)."""

from tests.integration.conftest import make_lab, nothing_left_behind  # noqa: F401
