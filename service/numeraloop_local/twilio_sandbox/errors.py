"""Twilio's error responses, and the codes the sandbox answers with.

Twilio's REST errors are JSON `{"code", "message", "more_info", "status"}`; twilio-python
turns them into `TwilioRestException(status, uri, msg, code)`. The sandbox raises
`TwilioApiError` anywhere in a request and the REST blueprint renders it.

Codes are real Twilio codes (https://www.twilio.com/docs/api/errors), chosen so the
service can branch on the same numbers it will see in production:

  20001  Unknown parameter. Twilio has no single "invalid value" code; the sandbox
         uses 20001 for any parameter its description does not list for the
         operation, and for a value of the wrong type/enum/pattern when no more
         specific code below applies. (Real Twilio silently ignores unknown
         parameters; the sandbox is stricter on purpose so a typo in the service
         fails a test instead of being dropped in production.)
  20003  Authenticate (401): missing or wrong credentials.
  20004  Method not allowed (405).
  20404  Not found (404): unknown resource or SID.
  20429  Too many requests (429).
  20500  Internal server error: a fault injected by a test (500/503).
  21211  Invalid 'To' phone number (not E.164).
  21212  Invalid 'From' phone number.
  21402  Invalid URL (a *Url / StatusCallback parameter that is not an http(s) URL).
  21403  Invalid method (a *Method parameter other than GET/POST).
  21421  PhoneNumber is invalid (buying a number).
  21422  PhoneNumber is not available (already owned).
  21451  Invalid area code.
  21452  No phone numbers found (AreaCode with nothing left to buy).
  21603  'From' phone number is required (neither From nor MessagingServiceSid).
  21604  'To' phone number is required.
  21606  'From' is not a Twilio number owned by this account.
  21610  Attempt to send to unsubscribed recipient (replied STOP).
  21617  Body exceeds 1600 characters.
  21619  A text message body or media URL must be specified.
  21620  Invalid media URL.
  21623  More than 10 media URLs.
  21704  Messaging Service contains no phone numbers.
"""

from __future__ import annotations

from flask import Response, jsonify


def more_info(code: int) -> str:
    return f"https://www.twilio.com/docs/errors/{code}"


class TwilioApiError(Exception):
    """An error answered as Twilio answers it: HTTP status plus a Twilio error code."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "more_info": more_info(self.code), "status": self.status}

    def response(self) -> Response:
        resp = jsonify(self.body())
        resp.status_code = self.status
        return resp


def authenticate_error() -> TwilioApiError:
    return TwilioApiError(401, 20003, "Authenticate")


def not_found(path: str) -> TwilioApiError:
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")


def invalid_parameter(message: str, code: int = 20001) -> TwilioApiError:
    return TwilioApiError(400, code, message)
