"""Errors a person can act on: a status, a stable code and a sentence (API.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hallpass.rules.commands import Rejection
from hallpass.web.json import json_response


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_rejection(cls, rejection: Rejection) -> ApiError:
        return cls(rejection.status, rejection.code, rejection.message)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str) -> Response:
    return json_response(error_body(code, message), status)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


def not_found(what: str = "That") -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found.")
