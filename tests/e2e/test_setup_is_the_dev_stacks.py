"""The browser e2e runs `sagemaker-llm-local --stack dev`: its proxy takes the path the dev stack deploys, streaming.

Fast and offline (no e2e mark): it checks the set-up, not the browser. tests/local pins that the local chain gets
exactly the deployed function's environment; this pins which path that is.
"""

from __future__ import annotations

from sagemaker_llm_local.stack import proxy_variables, read_stack


def test_the_browser_e2e_proxy_streams_as_the_dev_stack_deploys_it(run_program, stack_config):
    local = read_stack("dev")
    variables = proxy_variables(local, local.settings.effective_served_model_name, api_key="local-key")
    deployed = run_program(stack_config("dev"), stack="dev").one("aws:lambda/function:Function").inputs

    assert local.settings.api_streaming
    assert deployed["environment"]["variables"]["RESPONSE_STREAMING"] == variables["RESPONSE_STREAMING"] == "true"
    # No 28 s cut: the streaming path's deadline is the function's 900 s (the buffered API's would be 28).
    assert "REQUEST_DEADLINE_SECONDS" not in variables
    assert deployed["timeout"] == 900
