"""The local server streams `stream: true` answers for real: chunked, each chunk as the model makes it."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import StreamReply
from tests.proxy.events import API_KEY, MODEL_ID

HELLO = [{"role": "user", "content": "Hello SDK"}]
WORDS = ["One", " two", " three", " four"]


def test_the_sdk_gets_its_first_chunk_before_the_model_produces_its_last_token(openai_client, proxy_env):
    held = StreamReply(one_part_per_line(vllm_chat_sse(WORDS)), hold_after=2)  # role, "One"; then waits
    proxy_env.script(held)
    stream = openai_client.chat.completions.create(model=MODEL_ID, messages=HELLO, stream=True)
    chunks = iter(stream)
    first_text = ""
    while not first_text:
        first_text = next(chunks).choices[0].delta.content or ""
    assert first_text == "One"
    assert not held.release.is_set() and not held.sent.is_set()  # the model is still holding " two" …
    held.release.set()
    rest = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert first_text + rest == "One two three four"


def _post(base_url: str, body: dict) -> http.client.HTTPResponse:
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request(
        "POST",
        f"{url.path}/chat/completions",
        json.dumps(body),
        {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    return connection.getresponse()


def test_a_streamed_answer_is_chunked_and_a_plain_one_has_a_length(local_proxy):
    streamed = _post(local_proxy, {"model": MODEL_ID, "messages": HELLO, "stream": True})
    assert streamed.status == 200
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert streamed.headers["content-length"] is None
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.read().endswith(b"data: [DONE]\n\n")

    plain = _post(local_proxy, {"model": MODEL_ID, "messages": HELLO})
    data = plain.read()
    assert plain.headers["content-length"] == str(len(data))
    assert plain.headers["transfer-encoding"] is None
    assert json.loads(data)["object"] == "chat.completion"


def test_errors_keep_their_status_and_json_body(local_proxy):
    response = _post(local_proxy, {"model": "other-model", "messages": HELLO, "stream": True})
    assert response.status == 404
    assert json.loads(response.read())["error"]["code"] == "model_not_found"
