"""Fixtures for every test under tests/, from the modules that define them.

- tests/pulumi_harness.py: Pulumi under mocks, offline (`pulumi_mocks`, `run_program`, `cached_run`,
  `stack_config`, `no_aws_account`); its module docstring is the API.
- tests/engine/fixtures.py: the real engine (vLLM behind the SageMaker relay).
- tests/proxy_fixtures.py: the local server and the openai SDK.
"""

from __future__ import annotations

import os

from hypothesis import settings as hypothesis_settings

# Pulumi under mocks (tests/pulumi_harness.py: `pulumi_mocks`, `run_program`, …) for every test. The real
# engine's fixtures (vLLM behind the SageMaker relay, also serving LoRA adapters), shared by tests/engine and
# tests/e2e; the local server and the openai SDK, shared by tests/proxy, tests/engine and tests/tools.
pytest_plugins = ("tests.pulumi_harness", "tests.engine.fixtures", "tests.engine.lora_fixtures", "tests.proxy_fixtures")

# CI (CI=true) replays the same property-test examples on every run: a red run is always reproducible.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")
