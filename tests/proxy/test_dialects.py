"""OpenAI requests rendered for each container dialect (pure functions, no I/O)."""

from __future__ import annotations

from openai_proxy.config import load_settings
from openai_proxy.contract import DIALECTS
from openai_proxy.dialects import container_request, render_prompt
from openai_proxy.validation import validate_chat, validate_completion

SETTINGS = load_settings(
    {"SAGEMAKER_ENDPOINT_NAME": "ep", "SERVED_MODEL_NAME": "m", "API_KEY": "k", "BACKEND_DIALECT": "tgi"}
)


def test_generic_template_puts_system_first_and_ends_with_the_assistant_cue():
    prompt = render_prompt(
        [
            {"role": "user", "content": "Hi"},
            {"role": "system", "content": "You are terse."},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Weather?"},
        ]
    )
    assert prompt == "You are terse.\n\nUser: Hi\nAssistant: Hello.\nUser: Weather?\nAssistant:"


def test_temperature_zero_means_greedy():
    request = validate_chat({"messages": [{"role": "user", "content": "x"}], "temperature": 0}, SETTINGS)
    parameters = container_request(request, DIALECTS["tgi"], "m")["parameters"]
    assert parameters["do_sample"] is False
    assert "temperature" not in parameters


def test_sampling_parameters_for_tgi_and_lmi():
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "temperature": 0.7,
        "top_p": 0.9,
        "stop": ["END"],
        "max_tokens": 12,
    }
    request = validate_chat(body, SETTINGS)
    tgi = container_request(request, DIALECTS["tgi"], "m")
    assert tgi["stream"] is True
    assert tgi["parameters"] == {
        "max_new_tokens": 12,
        "details": True,
        "return_full_text": False,
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.9,
        "stop": ["END", "\nUser:"],
    }
    lmi = container_request(request, DIALECTS["lmi"], "m")
    assert lmi["parameters"]["stop_sequences"] == ["END", "\nUser:"]
    assert "stop" not in lmi["parameters"]


def test_top_p_one_is_left_out_for_tgi():
    request = validate_chat({"messages": [{"role": "user", "content": "x"}], "top_p": 1}, SETTINGS)
    assert "top_p" not in container_request(request, DIALECTS["tgi"], "m")["parameters"]


def test_completion_prompt_goes_as_is():
    request = validate_completion({"prompt": "Once upon a time"}, SETTINGS)
    body = container_request(request, DIALECTS["lmi"], "m")
    assert body["inputs"] == "Once upon a time"
    assert "stop_sequences" not in body["parameters"]


def test_openai_dialect_asks_the_container_for_usage():
    request = validate_completion({"prompt": "x", "max_tokens": 5}, load_settings({"SAGEMAKER_ENDPOINT_NAME": "e"}))
    body = container_request(request, DIALECTS["openai"], "served")
    assert body == {
        "model": "served",
        "prompt": "x",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 5,
    }
