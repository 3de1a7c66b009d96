"""Typed errors, turned into HTTP answers in one place (`error_response`)."""

from __future__ import annotations

from starlette.responses import JSONResponse


class CtrlensError(Exception):
    status = 500
    # Seconds after which a retry may succeed; sent as Retry-After when set.
    default_retry_after: int | None = None

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after if retry_after is not None else self.default_retry_after


class InvalidRequest(CtrlensError):
    status = 400


class Unauthorized(CtrlensError):
    status = 401


class UnknownSite(CtrlensError):
    status = 403


class OriginNotAllowed(CtrlensError):
    status = 403


class NotFound(CtrlensError):
    status = 404


class PayloadTooLarge(CtrlensError):
    status = 413


class UnsupportedMediaType(CtrlensError):
    status = 415


class RateLimited(CtrlensError):
    status = 429
    default_retry_after = 1


class Overloaded(CtrlensError):
    status = 503
    default_retry_after = 1


def error_response(exc: CtrlensError, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)
