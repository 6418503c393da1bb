"""The official openai SDK as the client of the local server (`openai-proxy`), the fake as the model."""

from __future__ import annotations

import openai
import pytest

from sagemaker_llm_local.container_formats import split_every, vllm_chat_sse
from sagemaker_llm_local.echo_model import ECHO_GREETING
from sagemaker_llm_local.replies import ErrorReply, StreamReply
from tests.proxy.events import MODEL_ID

HELLO = [{"role": "user", "content": "Hello SDK"}]


def test_models_list(openai_client):
    assert [m.id for m in openai_client.models.list()] == [MODEL_ID]
    assert openai_client.models.retrieve(MODEL_ID).id == MODEL_ID


def test_chat_non_streaming(openai_client):
    completion = openai_client.chat.completions.create(model=MODEL_ID, messages=HELLO)
    assert completion.choices[0].message.content == f"{ECHO_GREETING} You said: Hello SDK"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 9
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 9


def test_chat_streaming_reassembles_the_text_and_usage(openai_client):
    stream = openai_client.chat.completions.create(
        model=MODEL_ID, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"{ECHO_GREETING} You said: Hello SDK"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == 9


def test_chat_streaming_split_parts(openai_client, proxy_env):
    proxy_env.script(StreamReply(split_every(vllm_chat_sse(["Ünïcödé", " ✓"]), 3)))
    stream = openai_client.chat.completions.create(model=MODEL_ID, messages=HELLO, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Ünïcödé ✓"


def test_completions(openai_client):
    completion = openai_client.completions.create(model=MODEL_ID, prompt="Say hello", max_tokens=3)
    assert completion.choices[0].text == " Hello from the"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3


def test_streamed_failure_raises_an_api_error(openai_client, proxy_env):
    proxy_env.script(StreamReply([vllm_chat_sse(["partial"])[:120]], error=("ModelStreamError", "GPU fell over")))
    stream = openai_client.chat.completions.create(model=MODEL_ID, messages=HELLO, stream=True)
    with pytest.raises(openai.APIError, match="GPU fell over"):
        list(stream)


def test_wrong_key_is_authentication_error(local_proxy):
    client = openai.OpenAI(base_url=local_proxy, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.code == "invalid_api_key"


@pytest.mark.parametrize(
    ("kwargs", "exception"),
    [
        ({"temperature": 5}, openai.BadRequestError),
        ({"model": "gpt-4o"}, openai.NotFoundError),
    ],
)
def test_client_mistakes(openai_client, kwargs, exception):
    with pytest.raises(exception):
        openai_client.chat.completions.create(**{"model": MODEL_ID, "messages": HELLO, **kwargs})


@pytest.mark.parametrize(
    ("reply", "exception"),
    [
        (ErrorReply.throttling(), openai.RateLimitError),
        (ErrorReply.model_not_ready(), openai.InternalServerError),
        (ErrorReply.endpoint_not_found(), openai.InternalServerError),
        (ErrorReply.model_error(500, "boom"), openai.InternalServerError),
        (ErrorReply.model_error(400, "prompt too long"), openai.BadRequestError),
    ],
    ids=lambda v: v.code if isinstance(v, ErrorReply) else v.__name__,
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_upstream_failures_raise_the_sdk_exception(openai_client, proxy_env, reply, exception, stream):
    proxy_env.script(reply)
    with pytest.raises(exception):
        result = openai_client.chat.completions.create(model=MODEL_ID, messages=HELLO, stream=stream)
        if stream:
            list(result)
