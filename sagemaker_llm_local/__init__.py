"""sagemaker-llm on one machine: the stack's chain without AWS (`sagemaker-llm-local`, docs/local.md).

vLLM ◀─ SageMaker's runtime API (sagemaker_runtime.py) ◀─ the proxy the Lambda runs ◀─ OpenWebUI
"""
