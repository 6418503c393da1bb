"""ProxyFunction with apiStreaming: the streaming runtime through the exec wrapper, 15 minutes, bootstrap executable."""

import io
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pulumi
import pytest

from components.proxy_function import (
    EXEC_WRAPPER,
    PROXY_PACKAGE,
    STREAMING_HANDLER,
    package_files,
    package_zip_bytes,
    proxy_zip,
    streaming_invoke_arn,
)
from tests.resource_types import FUNCTION

STREAMING = {"uiEnabled": False, "modelId": "distilgpt2", "apiStreaming": True}


@pytest.fixture
def run(pulumi_mocks, cached_run):
    pulumi_mocks.mocks.computed["aws:apigateway/stage:Stage"] = lambda args, name: {
        "invokeUrl": f"https://{args.inputs['restApi']}.execute-api.us-east-1.amazonaws.com/api"
    }
    return cached_run(STREAMING)


def test_the_function_runs_the_streaming_runtime_through_the_exec_wrapper(run):
    function = run.one(FUNCTION).inputs
    env = function["environment"]["variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == EXEC_WRAPPER == "/var/task/openai_proxy/bootstrap"
    assert env["RESPONSE_STREAMING"] == "true"
    # The runtime loop serves _HANDLER, the function's handler (lambda_runtime.resolve_handler).
    assert function["handler"] == STREAMING_HANDLER == "openai_proxy.handler.stream_handler"


def test_the_function_may_run_as_long_as_a_stream_which_ends_10_s_before_it(run):
    function = run.one(FUNCTION).inputs
    assert function["timeout"] == 900
    env = function["environment"]["variables"]
    assert "REQUEST_DEADLINE_SECONDS" not in env

    from openai_proxy.config import load_settings

    settings = load_settings(env)
    assert settings.problems == ()
    assert settings.response_streaming is True
    # The REST API's clock starts before the function's (a cold start's Init phase): 10 s in hand for the last event.
    assert function["timeout"] - settings.deadline_seconds >= 10


def test_the_cors_origins_reach_the_streaming_proxy_only_which_reads_them_back(cached_run):
    from openai_proxy.config import load_settings
    from openai_proxy.contract import ENV

    origins = ["https://chat.example.com", "http://localhost:5173"]
    streaming = cached_run({**STREAMING, "apiCorsOrigins": origins}).one(FUNCTION).inputs["environment"]["variables"]
    assert load_settings(streaming).cors_origins == tuple(origins)
    # The HTTP API answers CORS itself and ignores the function's CORS headers (http-api-cors.html).
    buffered = cached_run({**STREAMING, "apiStreaming": False, "apiCorsOrigins": origins}).one(FUNCTION)
    assert ENV.cors_origins not in buffered.inputs["environment"]["variables"]
    assert ENV.cors_origins not in cached_run(STREAMING).one(FUNCTION).inputs["environment"]["variables"]


def test_the_code_is_a_zip_whose_bootstrap_is_executable(run):
    archive = run.one(FUNCTION).inputs["code"]
    assert isinstance(archive, pulumi.FileArchive)
    with zipfile.ZipFile(archive.path) as bundle:
        names = set(bundle.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in bundle.infolist()}
    assert names == {f"openai_proxy/{p.relative_to(PROXY_PACKAGE).as_posix()}" for p in package_files()}
    assert stat.S_ISREG(modes["openai_proxy/bootstrap"])
    assert stat.S_IMODE(modes["openai_proxy/bootstrap"]) == 0o755
    assert stat.S_IMODE(modes["openai_proxy/handler.py"]) == 0o644


def test_unzip_restores_bootstrap_as_an_executable(tmp_path):
    archive = proxy_zip(out_dir=tmp_path / "build")
    with zipfile.ZipFile(archive.path) as bundle:
        # zipfile itself ignores modes; apply them as unzip (and Lambda) does.
        for info in bundle.infolist():
            extracted = bundle.extract(info, tmp_path / "task")
            Path(extracted).chmod(stat.S_IMODE(info.external_attr >> 16))
    wrapper = tmp_path / "task" / "openai_proxy" / "bootstrap"
    assert wrapper.stat().st_mode & stat.S_IXUSR
    result = subprocess.run(["sh", "-n", str(wrapper)], capture_output=True, check=False)
    assert result.returncode == 0


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_the_zip_says_it_was_made_by_unix_on_any_platform_so_bootstrap_stays_executable(monkeypatch, platform):
    # zipfile marks entries made on Windows as MS-DOS (create_system 0), and unzip then ignores their Unix modes.
    monkeypatch.setattr(sys, "platform", platform)
    with zipfile.ZipFile(io.BytesIO(package_zip_bytes())) as bundle:
        entry = bundle.getinfo("openai_proxy/bootstrap")
    assert entry.create_system == 3
    assert entry.external_attr >> 16 == stat.S_IFREG | 0o755


def test_unzip_makes_bootstrap_executable_from_a_zip_built_on_windows(monkeypatch, tmp_path):
    unzip = shutil.which("unzip")
    assert unzip, "unzip (Info-ZIP) is installed by .ci/run"
    monkeypatch.setattr(sys, "platform", "win32")
    (tmp_path / "code.zip").write_bytes(package_zip_bytes())
    subprocess.run([unzip, "-q", str(tmp_path / "code.zip"), "-d", str(tmp_path / "task")], check=True)
    mode = (tmp_path / "task" / "openai_proxy" / "bootstrap").stat().st_mode
    assert stat.S_IMODE(mode) == 0o755


def test_the_zip_is_reproducible(tmp_path):
    first = Path(proxy_zip(out_dir=tmp_path / "a").path)
    second = Path(proxy_zip(out_dir=tmp_path / "b").path)
    assert first.read_bytes() == second.read_bytes()


def test_the_streaming_invoke_arn_is_offered_by_the_proxy(run):
    proxy = run.one("sagemaker-llm:index:ProxyFunction")
    function_arn = run.one(FUNCTION).state["arn"]
    assert proxy.outputs["streaming_invoke_arn"] == streaming_invoke_arn(function_arn)
    assert streaming_invoke_arn("arn:aws:lambda:eu-west-1:123456789012:function:proxy") == (
        "arn:aws:apigateway:eu-west-1:lambda:path/2021-11-15/functions/"
        "arn:aws:lambda:eu-west-1:123456789012:function:proxy/response-streaming-invocations"
    )
