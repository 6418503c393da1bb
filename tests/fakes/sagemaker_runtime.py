"""The SageMaker runtime emulator now lives in the project (sagemaker_llm_local); these names stay for old imports."""

from sagemaker_llm_local.container_formats import (
    lmi_chat_jsonlines,
    lmi_token_lines,
    one_part_per_line,
    openai_chat_chunks,
    split_at,
    split_every,
    tgi_token_sse,
    vllm_chat_sse,
    vllm_completion_sse,
)
from sagemaker_llm_local.echo_model import ECHO_GREETING
from sagemaker_llm_local.event_stream import encode_event_frame, error_frame, payload_part_frame
from sagemaker_llm_local.replies import ErrorReply, JsonReply, RecordedRequest, RelayReply, StreamReply
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime as FakeSageMakerRuntime

__all__ = [
    "ECHO_GREETING",
    "ErrorReply",
    "FakeSageMakerRuntime",
    "JsonReply",
    "RecordedRequest",
    "RelayReply",
    "StreamReply",
    "encode_event_frame",
    "error_frame",
    "lmi_chat_jsonlines",
    "lmi_token_lines",
    "one_part_per_line",
    "openai_chat_chunks",
    "payload_part_frame",
    "split_at",
    "split_every",
    "tgi_token_sse",
    "vllm_chat_sse",
    "vllm_completion_sse",
]
