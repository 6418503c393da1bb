"""OpenWebUI's environment, in one place.

The host's user data, `docker-compose.yml`, the end-to-end test and the tests that keep them in
step all read this module, so the UI cannot run with one set of variables in the cloud and
another locally.
"""

from collections.abc import Mapping

# Same value everywhere: a locked-down UI that talks only to our OpenAI-compatible API.
FIXED: Mapping[str, str] = {
    "ENABLE_OPENAI_API": "true",
    "ENABLE_OLLAMA_API": "false",
    "WEBUI_AUTH": "true",
    "ENABLE_SIGNUP": "false",
    # Env wins over the database on every start, so a new API URL takes effect.
    "ENABLE_PERSISTENT_CONFIG": "false",
    # A pinned image: no update checks, no model downloads from a hub at start.
    "OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "ENABLE_COMMUNITY_SHARING": "false",
    "ANONYMIZED_TELEMETRY": "false",
    "DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
    # Served over https (CloudFront): the browser sends the session cookies over TLS only.
    "WEBUI_SESSION_COOKIE_SECURE": "true",
    "WEBUI_AUTH_COOKIE_SECURE": "true",
}

# Known when the stack is deployed and not secret: written into the user data.
FROM_STACK: tuple[str, ...] = (
    "OPENAI_API_BASE_URL",  # the API's OpenAI base URL, ending in /v1
    "DEFAULT_MODELS",  # the public model id, preselected in a new chat
    "WEBUI_ADMIN_EMAIL",  # the admin account created on the first start
    "WEBUI_URL",  # where people open the UI: https://<distribution>.cloudfront.net or the custom name
)

# Secret: never in the user data; the host reads each from an SSM SecureString at boot.
SECRETS: tuple[str, ...] = (
    "OPENAI_API_KEY",
    "WEBUI_ADMIN_PASSWORD",
    "WEBUI_SECRET_KEY",
)

NAMES: frozenset[str] = frozenset(FIXED) | frozenset(FROM_STACK) | frozenset(SECRETS)


def openwebui_environment(
    *,
    api_base_url: str,
    api_key: str,
    model_id: str,
    admin_email: str,
    admin_password: str,
    secret_key: str,
    ui_url: str,
) -> dict[str, str]:
    """The whole environment OpenWebUI runs with, from the values a host would have at boot."""
    return {
        **FIXED,
        "OPENAI_API_BASE_URL": api_base_url,
        "DEFAULT_MODELS": model_id,
        "WEBUI_ADMIN_EMAIL": admin_email,
        "WEBUI_URL": ui_url,
        "OPENAI_API_KEY": api_key,
        "WEBUI_ADMIN_PASSWORD": admin_password,
        "WEBUI_SECRET_KEY": secret_key,
    }


def public_env_lines(stack_values: Mapping[str, str]) -> str:
    """The non-secret part as docker `--env-file` lines (`NAME=value`, taken literally)."""
    missing = set(FROM_STACK) - set(stack_values)
    extra = set(stack_values) - set(FROM_STACK)
    if missing or extra:
        raise ValueError(f"stack values must be exactly {FROM_STACK}: missing {missing}, unexpected {extra}")
    values = {**FIXED, **stack_values}
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} must be a single line")
    return "".join(f"{name}={value}\n" for name, value in values.items())
