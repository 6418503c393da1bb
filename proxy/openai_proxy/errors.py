"""OpenAI-shaped errors: one exception type raised anywhere, one place that renders it."""

from __future__ import annotations

import re
from collections.abc import Iterable

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error the client sees as `{"error": {message, type, param, code}}` with an HTTP status and headers.

    Complete when made: its headers (Retry-After, a 405's Allow) come with it, and nothing patches it later.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
        allow: Iterable[str] = (),
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.allow = tuple(allow)  # RFC 9110, 15.5.6: a 405 lists the methods the resource serves
        self.detail = detail  # for the log line only, never sent to the client

    @property
    def headers(self) -> dict[str, str]:
        headers = {"retry-after": str(self.retry_after)} if self.retry_after else {}
        if self.allow:
            headers["allow"] = ", ".join(self.allow)
        return headers

    @property
    def type(self) -> str:
        return _TYPES.get(self.status, "server_error" if self.status >= 500 else "invalid_request_error")

    def body(self) -> dict:
        return openai_error(self.message, self.type, self.param, self.code)

    def naming(self, param: str) -> ApiError:
        """The same error, naming the request parameter it is about."""
        return ApiError(
            self.status,
            self.message,
            code=self.code,
            param=param,
            retry_after=self.retry_after,
            allow=self.allow,
            detail=self.detail,
        )


class StreamFailure(Exception):
    """The model failed after the response stream started (ModelStreamError, InternalStreamFailure...)."""

    def __init__(
        self, message: str, code: str = "model_stream_error", *, status: int | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status  # the HTTP status the container gave an error event (vLLM's `code`), if any
        self.param = param  # the parameter that error event names, if any


class DeadlineReached(Exception):
    """Waiting for the next part would run past the request's deadline."""


def no_answer_before_deadline(detail: str | None = None) -> ApiError:
    """The model sent no token before the request's deadline: a 504, not an empty 200."""
    return ApiError(504, "The model did not start answering before the deadline.", code="timeout", detail=detail)


def openai_error(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


_ARN = re.compile(r"arn:aws[\w-]*:[^\s'\"]*")
_ACCOUNT = re.compile(r"\b\d{12}\b")
MAX_MESSAGE_CHARS = 2000


def scrub(message: str) -> str:
    """A message from AWS or the container, safe to show: no ARNs, no account ids, bounded."""
    message = _ACCOUNT.sub("<account>", _ARN.sub("<arn>", message))
    return message[:MAX_MESSAGE_CHARS]
