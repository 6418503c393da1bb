"""How the model is served: tensorParallelSize, vllmArgs, adapters and maxLoraRank, each refused at preview with
a message naming the key and what to do."""

from __future__ import annotations

import re
import subprocess

import botocore.session
import pytest

from components.lora_adapters import MAX_LORA_RANKS, adapter_component_name
from components.settings import SettingsError, load_settings
from components.vllm_args import (
    SAGEMAKER_OWNED_OPTIONS,
    STACK_OWNED_OPTIONS,
    environment_name,
    serve_options,
    vllm_args_environment,
)

ARCHIVE = "s3://my-bucket/adapters/support.tar.gz"
OWNED = STACK_OWNED_OPTIONS.keys() | SAGEMAKER_OWNED_OPTIONS.keys()


def _problems(pulumi_mocks, config) -> str:
    pulumi_mocks.configure({"modelId": "Qwen/Qwen2.5-7B-Instruct", **config})
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


def _load(pulumi_mocks, config):
    pulumi_mocks.configure({"modelId": "Qwen/Qwen2.5-7B-Instruct", **config})
    return load_settings()


def test_a_new_stack_splits_nothing_passes_no_vllm_options_and_serves_no_adapters(pulumi_mocks):
    settings = _load(pulumi_mocks, {})
    assert (settings.tensor_parallel_size, settings.vllm_args, settings.adapters, settings.max_lora_rank) == (
        0,
        {},
        {},
        16,
    )
    assert not settings.component_hosting


def test_a_tensor_parallel_size_that_does_not_divide_the_gpus_is_refused_with_the_ones_that_do(pulumi_mocks):
    message = _problems(pulumi_mocks, {"instanceType": "ml.g5.12xlarge", "tensorParallelSize": 3})
    assert "tensorParallelSize: 3 does not divide the 4 GPUs of ml.g5.12xlarge; give one of 1, 2, 4" in message


def test_more_gpus_than_the_instance_has_are_refused(pulumi_mocks):
    message = _problems(pulumi_mocks, {"instanceType": "ml.g5.2xlarge", "tensorParallelSize": 4})
    assert "tensorParallelSize: 4 does not divide the 1 GPU of ml.g5.2xlarge; give 1, or 0 for all of them" in message


def test_a_divisor_of_the_gpus_is_accepted(pulumi_mocks):
    assert _load(pulumi_mocks, {"instanceType": "ml.p4d.24xlarge", "tensorParallelSize": 2}).tensor_parallel_size == 2


def test_a_typo_in_vllm_args_stops_the_preview_and_names_the_option_it_meant(pulumi_mocks):
    message = _problems(pulumi_mocks, {"vllmArgs": {"enable-prefix-cachng": True}})
    assert (
        "vllmArgs.enable-prefix-cachng: not an option of vLLM's `vllm serve`; did you mean 'enable-prefix-caching'?"
        in message
    )


@pytest.mark.parametrize(
    ("option", "owner"),
    [
        ("max-model-len", "maxModelLen"),
        ("tensor-parallel-size", "tensorParallelSize"),
        ("served-model-name", "servedModelName"),
        ("model", "modelId / modelDataUri"),
        ("tool-call-parser", "toolCallParser"),
        ("enable-auto-tool-choice", "toolCallParser"),
        ("chat-template", "chatTemplate"),
        ("enable-lora", "adapters"),
        ("no-enable-lora", "adapters"),
        ("max-loras", "adapters"),
        ("max-lora-rank", "maxLoraRank"),
    ],
)
def test_an_option_the_stack_sets_itself_is_refused_naming_the_key_that_sets_it(pulumi_mocks, option, owner):
    message = _problems(pulumi_mocks, {"vllmArgs": {option: "8"}})
    base = option.removeprefix("no-")
    assert f"vllmArgs.{option}: the stack sets --{base} from {owner}; set that instead." in message


@pytest.mark.parametrize("option", ["port", "host", "api-key"])
def test_an_option_that_would_cut_sagemaker_off_from_the_container_is_refused(pulumi_mocks, option):
    message = _problems(pulumi_mocks, {"vllmArgs": {option: "8000"}})
    assert f"vllmArgs.{option}: " in message
    assert "SageMaker" in message and "; remove it." in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"--dtype": "half"}, "write '--dtype' without the dashes, as 'dtype'"),
        ({"enable-prefix-caching": "yes"}, "vllmArgs.enable-prefix-caching: a flag; give true or false"),
        ({"quantization": True}, "vllmArgs.quantization: takes one value"),
        ({"max-num-seqs": [8, 16]}, "vllmArgs.max-num-seqs: takes one value"),
        ({"dtype": "float64"}, "vllmArgs.dtype: 'float64' is not one of auto, bfloat16, float, float16, float32, half"),
        (
            {"quantization": "x" * 1025},
            "vllmArgs.quantization: 1025 characters; a SageMaker environment value holds at most 1024",
        ),
        (["enable-prefix-caching"], "vllmArgs: give an object of vLLM options"),
    ],
)
def test_a_value_vllm_or_sagemaker_would_not_take_is_refused(pulumi_mocks, args, expected):
    assert expected in _problems(pulumi_mocks, {"vllmArgs": args})


def test_vllm_args_that_overflow_the_containers_environment_are_refused(pulumi_mocks):
    def some_value(spec):
        return True if spec["kind"] == "flag" else spec.get("choices", ["1"])[0]

    allowed = {name: spec for name, spec in serve_options().items() if name.removeprefix("no-") not in OWNED}
    many = {name: some_value(spec) for name, spec in list(allowed.items())[:89]}
    message = _problems(pulumi_mocks, {"vllmArgs": many})
    assert "vllmArgs: a SageMaker container takes at most 100 environment variables" in message


def test_vllm_args_need_the_vllm_container(pulumi_mocks):
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.36.0-lmi28.0.0-cu130"
    message = _problems(pulumi_mocks, {"backendDialect": "lmi", "containerImage": image, "vllmArgs": {"dtype": "half"}})
    assert "vllmArgs: only the vLLM container (backendDialect openai) reads them" in message


def test_good_vllm_args_are_kept_and_become_the_dlcs_variables(pulumi_mocks):
    args = {"enable-prefix-caching": True, "enforce-eager": False, "gpu-memory-utilization": 0.85, "dtype": "half"}
    settings = _load(pulumi_mocks, {"vllmArgs": args})
    assert settings.vllm_args == args
    # true → a bare flag, false → left out (the DLC's SageMaker entrypoint); numbers as vLLM parses them.
    assert vllm_args_environment(settings.vllm_args) == {
        "SM_VLLM_ENABLE_PREFIX_CACHING": "true",
        "SM_VLLM_GPU_MEMORY_UTILIZATION": "0.85",
        "SM_VLLM_DTYPE": "half",
    }


def test_every_vllm_option_makes_a_valid_sagemaker_environment_name():
    key = botocore.session.get_session().get_service_model("sagemaker").shape_for("EnvironmentKey")
    pattern = re.compile(key.metadata["pattern"])
    assert all(pattern.fullmatch(environment_name(option)) for option in serve_options())


def test_max_lora_ranks_are_the_choices_of_vllms_own_max_lora_rank_option():
    assert [str(rank) for rank in MAX_LORA_RANKS] == serve_options()["max-lora-rank"]["choices"]


@pytest.mark.parametrize("rank", [24, 0, 1024])
def test_a_lora_rank_vllm_does_not_take_is_refused(pulumi_mocks, rank):
    assert "maxLoraRank: vLLM 0.27.1 accepts one of 1, 8, 16, 32, 64, 128, 256, 320, 512" in _problems(
        pulumi_mocks, {"maxLoraRank": rank}
    )


def test_two_adapters_are_kept_and_make_the_model_an_inference_component(pulumi_mocks):
    adapters = {"support": ARCHIVE, "legal-v2": "s3://my-bucket/adapters/legal.tar.gz"}
    settings = _load(pulumi_mocks, {"instanceType": "ml.g5.12xlarge", "adapters": adapters, "maxLoraRank": 64})
    assert settings.adapters == adapters
    assert settings.max_lora_rank == 64
    assert settings.component_hosting and not settings.scale_to_zero


@pytest.mark.parametrize(
    ("adapters", "expected"),
    [
        ({"Qwen/Qwen2.5-7B-Instruct": ARCHIVE}, "is not a model name"),
        ({"-support": ARCHIVE}, "is not a model name"),
        ({"s" * 33: ARCHIVE}, "is not a model name: use up to 32"),
        (
            {"support": "s3://my-bucket/adapters/support/"},
            "adapters.support: 's3://my-bucket/adapters/support/' is not the S3 URI of one `.tar.gz`",
        ),
        ({"support": "https://example.com/support.tar.gz"}, "is not the S3 URI of one `.tar.gz`"),
        (
            {"support": "s3://my-bucket/adapters/*.tar.gz"},
            "adapters.support: 's3://my-bucket/adapters/*.tar.gz' has `*`, `?` or `$`, which IAM reads as a pattern",
        ),
        ({"support": "s3://my-bucket/${aws:username}.tar.gz"}, "which IAM reads as a pattern in the role's"),
        ({"support": 7}, "is not the S3 URI of one `.tar.gz`"),
        (
            {"support.v2": ARCHIVE, "support-v2": ARCHIVE},
            "'support.v2' and 'support-v2' would get the same inference component name",
        ),
        (
            {"Support": ARCHIVE, "support": ARCHIVE},
            "'Support' and 'support' would get the same inference component name",
        ),
        ({f"a{n}": ARCHIVE for n in range(21)}, "adapters: 21 adapters; a stack serves at most 20"),
        (["support"], "adapters: give an object of public model name → S3 URI"),
    ],
)
def test_an_adapter_sagemaker_could_not_serve_is_refused(pulumi_mocks, adapters, expected):
    assert expected in _problems(pulumi_mocks, {"instanceType": "ml.g5.12xlarge", "adapters": adapters})


def test_an_adapter_may_not_take_the_base_models_name(pulumi_mocks):
    message = _problems(pulumi_mocks, {"servedModelName": "qwen", "adapters": {"qwen": ARCHIVE}})
    assert "adapters.qwen: the base model is already called 'qwen'; give the adapter its own name." in message


def test_adapters_need_the_vllm_container_and_a_known_gpu_count(pulumi_mocks):
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.36.0-lmi28.0.0-cu130"
    lmi = _problems(pulumi_mocks, {"backendDialect": "lmi", "containerImage": image, "adapters": {"s": ARCHIVE}})
    assert "adapters: only the vLLM container (backendDialect openai) serves LoRA adapters" in lmi
    unknown = _problems(pulumi_mocks, {"instanceType": "ml.g7.2xlarge", "adapters": {"s": ARCHIVE}})
    assert "instanceType: with adapters the model is an inference component" in unknown


@pytest.mark.parametrize("endpoint", ["sagemaker-llm-dev", "e" * 63])
def test_adapter_component_names_are_valid_sagemaker_names(endpoint):
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("InferenceComponentName")
    name = adapter_component_name(endpoint, "Support.v2_" + "x" * 21)
    assert len(name) <= shape.metadata["max"]
    assert re.fullmatch(shape.metadata["pattern"], name)
    assert adapter_component_name("sagemaker-llm-dev", "support") == "sagemaker-llm-dev-lora-support"


# The DLC's loop (aws/deep-learning-containers, vllm/build_artifacts/sagemaker_entrypoint.sh), printing its ARGS.
DLC_ENTRYPOINT_LOOP = r"""
ARGS=(--port 8080)
while IFS='=' read -r key value; do
    arg_name=$(echo "${key#SM_VLLM_}" | tr '[:upper:]' '[:lower:]' | tr '_' '-')
    ARGS+=("--${arg_name}")
    if [ -n "$value" ]; then ARGS+=("$value"); fi
done < <(env | grep "^SM_VLLM_")
printf '%s\n' "${ARGS[@]}"
"""


def _dlc_arguments(environment: dict[str, str]) -> list[str]:
    result = subprocess.run(
        ["bash", "-c", DLC_ENTRYPOINT_LOOP], env=environment, capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()


def test_a_line_break_in_a_vllm_arg_is_refused_as_the_dlc_would_read_its_second_line_as_an_option(pulumi_mocks):
    smuggled = {"quantization": "awq\nSM_VLLM_PORT=9000"}
    assert _dlc_arguments(vllm_args_environment(smuggled)) == [
        "--port",
        "8080",
        "--quantization",
        "awq",
        "--port",
        "9000",
    ]

    message = _problems(pulumi_mocks, {"vllmArgs": smuggled})
    assert "vllmArgs.quantization: a line break would give vLLM an option of its own" in message


def test_a_chat_template_with_a_line_break_is_refused_as_the_dlc_would_keep_only_its_first_line(pulumi_mocks):
    template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    assert _dlc_arguments({"SM_VLLM_CHAT_TEMPLATE": template}) == [
        "--port",
        "8080",
        "--chat-template",
        "{% for m in messages %}{{ m['content'] }}",
    ]

    message = _problems(pulumi_mocks, {"chatTemplate": template})
    assert "chatTemplate: has a line break; the DLC reads each SM_VLLM_ variable as one line" in message
    folded = "{% for m in messages %}{{ m['content'] }}{{ '\\n' }}{% endfor %}"
    assert _load(pulumi_mocks, {"chatTemplate": folded}).chat_template == folded


def test_model_weights_under_a_prefix_with_an_iam_wildcard_are_refused(pulumi_mocks):
    # The role's s3:GetObject would be arn:aws:s3:::my-bucket/*/ followed by `*`: every object in the bucket.
    message = _problems(pulumi_mocks, {"modelId": "", "modelDataUri": "s3://my-bucket/*/"})
    assert "modelDataUri: 's3://my-bucket/*/' is not an S3 prefix" in message
    assert "no `*`, `?` or `$`, which IAM would read as a pattern" in message
