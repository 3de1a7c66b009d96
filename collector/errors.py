"""Typed errors and their JSON answer (`error_response`).

POST /e answers its errors itself with `error_response` (the hot path skips the router); every
other route raises them and the application's one error handler answers (dashboard/pages.py).
"""

from __future__ import annotations

from starlette.responses import JSONResponse


class CtrlensError(Exception):
    status = 500
    # Seconds after which a retry may succeed; sent as Retry-After when set.
    default_retry_after: int | None = None

    def __init__(self, message: str, retry_after: int | None = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after if retry_after is not None else self.default_retry_after
        if status is not None:  # an HTTP error from the router (404, 405) as a typed error
            self.status = status

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The answer's headers: `extra` plus Retry-After when a retry may succeed."""
        headers = dict(extra or {})
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


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
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers(headers))
