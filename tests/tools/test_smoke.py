"""`smoke` against the local openai-proxy backed by the fake SageMaker runtime."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from sagemaker_llm_local.replies import ErrorReply
from tests.tools.conftest import API_KEY, ENDPOINT, MODEL_ID
from tools import smoke

CHECKS = ("models", "chat", "chat-stream", "completions", "wrong-key-401")


def rows(output: str) -> dict[str, list[str]]:
    """check name → [status, latency, 'ms', detail…] of each printed row."""
    found = {}
    for line in output.splitlines():
        fields = line.split(maxsplit=4)
        if fields and fields[0] in (*CHECKS, "endpoint-invoke", "endpoint-stream"):
            found[fields[0]] = fields[1:]
    return found


def test_api_passes_every_check_against_a_working_api(local_api, capsys):
    code = smoke.main(["api", "--url", local_api, "--key", API_KEY])

    out = capsys.readouterr().out
    assert code == 0, out
    table = rows(out)
    assert list(table) == list(CHECKS)
    assert all(row[0] == "PASS" for row in table.values()), out
    assert MODEL_ID in table["models"][-1]
    assert "Hello from the fake model" in table["chat"][-1]
    assert "Hello from the fake model" in table["chat-stream"][-1]  # reassembled from the chunks
    assert "all checks passed" in out
    assert API_KEY not in out


def test_each_row_has_a_latency_in_milliseconds(local_api, capsys):
    smoke.main(["api", "--url", local_api, "--key", API_KEY])

    for status, latency, unit, *_ in rows(capsys.readouterr().out).values():
        assert status == "PASS"
        assert unit == "ms"
        assert float(latency) >= 0


def test_api_that_accepts_any_key_fails_the_wrong_key_check(open_local_api, capsys):
    code = smoke.main(["api", "--url", open_local_api, "--key", "whatever"])

    out = capsys.readouterr().out
    assert code == 1
    table = rows(out)
    assert table["wrong-key-401"][0] == "FAIL"
    assert "not 401" in table["wrong-key-401"][-1]
    assert "open to anyone" in table["wrong-key-401"][-1]
    assert table["chat"][0] == "PASS"
    assert "1 check(s) failed" in out


def test_a_url_the_api_does_not_serve_is_not_called_open_to_anyone(local_api, capsys):
    # The base URL without /v1: every path is a 404, the wrong key's too, which says nothing about the key.
    code = smoke.main(["api", "--url", local_api.removesuffix("/v1"), "--key", API_KEY])

    table = rows(capsys.readouterr().out)
    assert code == 1
    assert table["wrong-key-401"][0] == "FAIL"
    assert "HTTP 404" in table["wrong-key-401"][-1]
    assert "open to anyone" not in table["wrong-key-401"][-1]


def test_a_wrong_key_fails_every_check_but_the_401_one(local_api, capsys):
    code = smoke.main(["api", "--url", local_api, "--key", "not-the-key"])

    table = rows(capsys.readouterr().out)
    assert code == 1
    assert table["models"][0] == "FAIL"
    assert "HTTP 401" in table["models"][-1]
    assert table["wrong-key-401"][0] == "PASS"


def test_a_failing_model_fails_the_chat_with_the_api_s_message(local_api, sagemaker, capsys):
    sagemaker.script(ErrorReply(424, "ModelError", "the model fell over"))

    # models does not touch SageMaker: the scripted error answers the non-streaming chat.
    code = smoke.main(["api", "--url", local_api, "--key", API_KEY])

    table = rows(capsys.readouterr().out)
    assert code == 1
    assert table["chat"][0] == "FAIL"
    assert "HTTP" in table["chat"][-1]
    assert table["chat-stream"][0] == "PASS"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_api_gets_one_clear_line_and_no_traceback():
    url = f"http://127.0.0.1:{free_port()}/v1"

    result = subprocess.run(
        [sys.executable, "-m", "tools.smoke", "api", "--url", url, "--key", API_KEY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert f"cannot reach the API at {url}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_endpoint_invokes_the_fake_endpoint_in_the_openai_dialect(sagemaker, capsys):
    code = smoke.main(["endpoint", "--name", ENDPOINT, "--region", "us-east-1", "--model", MODEL_ID])

    out = capsys.readouterr().out
    assert code == 0, out
    table = rows(out)
    assert table["endpoint-invoke"][0] == "PASS"
    assert "Hello from the fake model" in table["endpoint-invoke"][-1]
    assert table["endpoint-stream"][0] == "PASS"
    sent = [request.json for request in sagemaker.requests]
    assert sent[0]["prompt"] == smoke.PROMPT
    assert sent[0]["model"] == MODEL_ID
    assert sent[1]["stream"] is True


@pytest.mark.parametrize("dialect", ["lmi", "tgi"])
def test_endpoint_speaks_the_text_generation_schema(sagemaker, capsys, dialect):
    sagemaker.text_format = dialect

    code = smoke.main(["endpoint", "--name", ENDPOINT, "--region", "us-east-1", "--dialect", dialect])

    out = capsys.readouterr().out
    assert code == 0, out
    assert sagemaker.requests[0].json["inputs"] == smoke.PROMPT
    assert sagemaker.requests[0].json["parameters"]["max_new_tokens"] == smoke.MAX_TOKENS


def test_endpoint_error_is_a_failed_row_with_sagemaker_s_message(sagemaker, capsys):
    sagemaker.script(ErrorReply.endpoint_not_found("missing"))

    code = smoke.main(["endpoint", "--name", "missing", "--region", "us-east-1"])

    table = rows(capsys.readouterr().out)
    assert code == 1
    assert table["endpoint-invoke"][0] == "FAIL"
    assert "not found" in table["endpoint-invoke"][-1]


def test_stack_without_the_pulumi_cli_says_so(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")

    code = smoke.main(["api", "--stack", "dev"])

    assert code == 2
    assert "Pulumi CLI" in capsys.readouterr().err


def test_stack_outputs_give_the_url_key_and_model(local_api, tmp_path, monkeypatch, capsys):
    outputs = {"apiUrl": local_api, "apiKey": API_KEY, "modelId": MODEL_ID, "endpointName": ENDPOINT}
    fake_cli = tmp_path / "pulumi"
    fake_cli.write_text(f"#!/bin/sh\ncat <<'JSON'\n{json.dumps(outputs)}\nJSON\n")
    fake_cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")

    code = smoke.main(["api", "--stack", "dev"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert f"API {local_api}" in out


@pytest.mark.parametrize(("command", "decrypts"), [("api", True), ("endpoint", False), ("status", False)])
def test_only_smoke_api_asks_pulumi_to_decrypt_the_stack_s_secrets(tmp_path, monkeypatch, command, decrypts):
    # Only the API key is a secret smoke needs; the rest works with read access to the state alone (no KMS key or
    # passphrase), and keeps the secrets out of the process.
    calls = tmp_path / "calls"
    outputs = {"apiUrl": "http://127.0.0.1:9/v1", "apiKey": "[secret]", "endpointName": ENDPOINT, "modelId": MODEL_ID}
    fake_cli = tmp_path / "pulumi"
    fake_cli.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\ncat <<'JSON'\n{json.dumps(outputs)}\nJSON\n")
    fake_cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    for name, value in {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)  # whatever the checks then ask, they ask nothing real

    smoke.main([command, "--stack", "dev", *(["--region", "us-east-1"] if command == "endpoint" else [])])

    (call,) = calls.read_text().splitlines()
    assert call.startswith("stack output --json")
    assert ("--show-secrets" in call.split()) is decrypts


def test_stack_error_is_reported_without_a_traceback(tmp_path, monkeypatch, capsys):
    fake_cli = tmp_path / "pulumi"
    fake_cli.write_text("#!/bin/sh\necho 'error: no stack named nope found' >&2\nexit 255\n")
    fake_cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")

    code = smoke.main(["endpoint", "--stack", "nope"])

    assert code == 2
    assert "no stack named nope" in capsys.readouterr().err


def test_endpoint_without_a_region_says_so(sagemaker, monkeypatch, tmp_path, capsys):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    code = smoke.main(["endpoint", "--name", ENDPOINT])

    assert code == 2
    assert "--region" in capsys.readouterr().err


def test_the_streamed_chat_row_says_when_its_first_chunk_came(local_api, capsys):
    smoke.main(["api", "--url", local_api, "--key", API_KEY])

    status, latency, _, detail = rows(capsys.readouterr().out)["chat-stream"]
    first = float(detail.split("the first after ", 1)[1].split(" ms", 1)[0])
    assert status == "PASS"
    assert 0 < first <= float(latency)  # a streaming API's comes before the end, a buffered one's with it


def test_a_url_that_is_not_the_api_s_base_says_which_url_to_give(local_api, capsys):
    code = smoke.main(["api", "--url", local_api.removesuffix("/v1"), "--key", API_KEY])

    out = capsys.readouterr().out
    assert code == 1
    status, *_, detail = rows(out)["models"]
    assert status == "FAIL"
    assert "HTTP 404 for /models: give the stack's apiUrl (…/api/v1" in detail
