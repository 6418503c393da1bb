"""Renders the UI host's user data from `user-data.sh.tpl`: a pure function, tested without AWS."""

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from openwebui.environment import SECRETS, public_env_lines

HERE = Path(__file__).parent
TEMPLATE = HERE / "user-data.sh.tpl"
START_SCRIPT = HERE / "start-openwebui.sh"
OPENWEBUI_UNIT = HERE / "openwebui.service"
PROXY_UNIT = HERE / "openwebui-proxy.service"
NGINX_CONF = HERE / "nginx.conf"
USER_DATA_LIMIT = 16 * 1024  # bytes EC2 accepts before base64
CONTAINER_PORT = 8080  # OpenWebUI's port inside the image

_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")
_PARAMETER_NAME = re.compile(r"[a-zA-Z0-9_.\-/]+")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Fills every `{{ name }}`; a missing or unused value is an error, not a silent blank."""
    unused = set(values) - set(_PLACEHOLDER.findall(template))
    if unused:
        raise ValueError(f"values not used by the template: {sorted(unused)}")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"no value for template placeholder {name!r}")
        return values[name]

    return _PLACEHOLDER.sub(fill, template)


def render_user_data(
    *,
    image: str,
    data_volume_id: str,
    ui_port: int,
    stack_env: Mapping[str, str],
    secret_parameters: Mapping[str, str],
    origin_secret_parameter: str,
) -> str:
    """The boot script of the UI host.

    `stack_env` holds the non-secret variables known at deploy time (environment.FROM_STACK);
    `secret_parameters` maps each secret variable (environment.SECRETS) to the SSM parameter
    the host reads it from at boot; `origin_secret_parameter` holds the header value CloudFront
    adds, which the host's nginx checks. No secret value goes in.
    """
    if set(secret_parameters) != set(SECRETS):
        raise ValueError(f"secret parameters must be exactly {SECRETS}, got {sorted(secret_parameters)}")
    for parameter in [*secret_parameters.values(), origin_secret_parameter]:
        if not _PARAMETER_NAME.fullmatch(parameter):
            raise ValueError(f"not an SSM parameter name: {parameter!r}")
    start_script = _heredoc_body(START_SCRIPT, "SCRIPT")
    openwebui_unit = _heredoc_body(OPENWEBUI_UNIT, "UNIT")
    proxy_unit = _heredoc_body(PROXY_UNIT, "UNIT")
    nginx_conf = _heredoc_body(NGINX_CONF, "NGINX")
    user_data = render_template(
        _without_comment_lines(TEMPLATE.read_text()),
        {
            "image": shlex.quote(image),
            "data_volume_id": shlex.quote(data_volume_id),
            "ui_port": str(int(ui_port)),
            "container_port": str(CONTAINER_PORT),
            "public_env": public_env_lines(stack_env).rstrip("\n"),
            "secret_parameters": "\n".join(f"{name}={secret_parameters[name]}" for name in SECRETS),
            "start_script": start_script,
            "openwebui_unit": openwebui_unit,
            "proxy_unit": proxy_unit,
            "nginx_conf": nginx_conf,
            "origin_secret_parameter": origin_secret_parameter,
        },
    )
    size = len(user_data.encode())
    if size > USER_DATA_LIMIT:
        raise ValueError(f"user data is {size} bytes; EC2 accepts at most {USER_DATA_LIMIT}")
    return user_data


def _without_comment_lines(template: str) -> str:
    """The template minus its own comment lines (the shebang stays): they are read in the repository, and EC2's
    16 KB is better spent on the files installed verbatim (comments included) that the template embeds."""
    first, _, rest = template.partition("\n")
    kept = [line for line in rest.split("\n") if not line.lstrip().startswith("#")]
    return "\n".join([first, *kept])


def _heredoc_body(path: Path, terminator: str) -> str:
    """A file's text to embed in a quoted heredoc; it must not contain the heredoc's terminator line."""
    text = path.read_text().rstrip("\n")
    if terminator in text.splitlines():
        raise ValueError(f"{path.name} must not contain the heredoc terminator {terminator}")
    return text
