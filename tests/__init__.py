"""Tests mirror the tree: tests/proxy, tests/components, tests/e2e; shared fakes in tests/fakes."""
