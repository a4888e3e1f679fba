"""Helpers shared by tests: import them from here, never from a test module or a conftest."""
