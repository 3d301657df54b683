"""Stripe's error responses: `{"error": {"type", "message", "code"?, "param"?}}` with its HTTP status.

stripe-python turns these into `AuthenticationError` (401), `InvalidRequestError` (400/404),
`IdempotencyError` (type idempotency_error) and so on, exactly as it does for Stripe.
"""

from __future__ import annotations

from flask import Response, jsonify


class StripeApiError(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.type, self.message, self.code, self.param = status, type_, message, code, param

    def body(self) -> dict:
        error = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}

    def response(self) -> Response:
        resp = jsonify(self.body())
        resp.status_code = self.status
        return resp


def no_api_key() -> StripeApiError:
    return StripeApiError(
        401,
        "invalid_request_error",
        "You did not provide an API key. You need to provide your API key in the Authorization "
        "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
    )


def invalid_api_key(key: str) -> StripeApiError:
    shown = (key[:8] + "*" * max(0, len(key) - 12) + key[-4:]) if len(key) > 12 else "*" * len(key)
    return StripeApiError(401, "invalid_request_error", f"Invalid API Key provided: {shown}", code="api_key_invalid")


def missing_param(param: str) -> StripeApiError:
    return StripeApiError(
        400, "invalid_request_error", f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid_param(param: str, message: str) -> StripeApiError:
    return StripeApiError(400, "invalid_request_error", message, code="parameter_invalid_string", param=param)


def no_such(kind: str, object_id: str, param: str | None = None) -> StripeApiError:
    return StripeApiError(
        404 if param is None else 400,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param or "id",
    )
