"""Offline stand-ins for AWS services, speaking their real wire formats (see sagemaker_runtime)."""
