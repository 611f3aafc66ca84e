"""One bounded local Ray runtime for the cluster tests, always stopped at the end.

The environment keeps it on the loopback address (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0:
Ray otherwise advertises the machine's network address), without token authentication
(a test-local runtime) and without a usage report. RAY_ADDRESS is removed so that no
test joins a cluster that happens to be configured on the machine. They are set for
the whole test process, when this directory is collected, because Ray reads them at import.
"""

from __future__ import annotations

import logging
import os

import pytest

RAY_TEST_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                "RAY_USAGE_STATS_ENABLED": "0"}
# Ray reads these when it is imported, so before any test module imports it.
os.environ.update(RAY_TEST_ENV)
os.environ.pop("RAY_ADDRESS", None)


@pytest.fixture(scope="session")
def ray_runtime():
    """The ``ray`` module, initialised with a 2-CPU local runtime (skipped when Ray Data
    is not installed: ``pip install -e .[cluster]``)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    from ray import cloudpickle

    from . import workers

    cloudpickle.register_pickle_by_value(workers)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}  # loopback only
        yield ray
    finally:
        ray.shutdown()
