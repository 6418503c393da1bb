"""Offline stand-ins for AWS services, speaking their real wire formats (see sagemaker_runtime)."""

# Credentials and region for boto3 clients that talk to the fakes (never to AWS).
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
