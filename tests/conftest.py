"""Shared by tests/unit and tests/integration: the collection importable as
ansible_collections.medimaging.pacs_lb, the plain helpers of tests/fixtures/
on sys.path (test modules import them from there, never from each other),
and the fixtures both suites use."""
import os
import sys
import tempfile

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
if FIXTURES not in sys.path:
    sys.path.insert(0, FIXTURES)

# sys.path for ansible_collections
import collection_path  # noqa: E402,F401  pylint: disable=unused-import

import pytest  # noqa: E402


@pytest.fixture
def sockdir():
    """A short directory for AF_UNIX sockets (their paths are limited to 108 bytes)."""
    path = tempfile.mkdtemp(prefix="hxt")
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)
