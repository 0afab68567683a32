"""Which pytest-xdist worker group a test belongs to (``make test`` runs two workers with
``--dist loadgroup``); kept apart from conftest.py, whose imports are heavy, so
test_suite.py can check the grouping in a session of its own in seconds."""

import pytest

SHARED = "tiny_bootstrap"
"""The tiny bootstrap's fixture, which the small pipeline run (``finished_run``) starts from:
every test that uses either runs in one worker, so each is made once."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A module's tests run in one worker, so its module fixtures are built once, and every
    test that uses the tiny bootstrap or the small pipeline run on it runs in the same worker.
    First among the hooks: xdist's own reads the groups into the test ids."""
    for item in items:
        group = SHARED if SHARED in item.fixturenames else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))
