"""Shared test configuration.

Hypothesis profiles: ``ci`` (deterministic: derandomized, no deadline, bounded examples),
selected automatically when the ``CI`` environment variable is set, and ``dev`` otherwise.
Select explicitly with ``pytest --hypothesis-profile=NAME``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=25, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
