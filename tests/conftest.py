"""Fixtures for the whole suite; they live in harness.py so test modules can import its helpers
unambiguously (`from harness import Server`): tests/snippet has a conftest.py of its own."""

from harness import *  # noqa: F401,F403  (fixtures are found by name in this module)
