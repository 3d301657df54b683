"""The OpenAPI 3.1 description of /api/v1, served at GET /api/v1/openapi.json.

Integrators generate clients from it before they have a token, so the route is public: it
hangs on a blueprint of its own, outside the authenticated /api/v1 surface (its
before_request and access log do not run for it). The document says nothing that is not
in the README: routes, inputs, answers and the error codes each route can answer with.

Each operation lists every HTTP status it can answer with and, per status, the `code`
values of `{"error": {"code", "message", ...}}` as an enum (Twilio's own failures add
`twilio_<number>`, matched by a pattern). The test suite holds every real /api/v1 response
against this document (tests/support/api_contract.py), so a route that changes what it
answers must change this file too.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from flask import Blueprint, jsonify

from .. import __version__
from ..privacy import age
from ..privacy import requests as requests_api
from . import PREFIX

bp = Blueprint("api_description", __name__, url_prefix=PREFIX)

TWILIO_CODE = "twilio_<number>"  # stands for Twilio's numbered errors, e.g. twilio_21211
TWILIO_CODE_PATTERN = "^twilio_[0-9]+$"
AGE_CONFIRMATION_REQUIRED = "age_confirmation_required"
DESCRIPTION_PATH = "/openapi.json"

JSON = "application/json"


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())


# ---------------------------------------------------------------------------------------
# Small builders


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """The schema or JSON null (OpenAPI 3.1 has no `nullable`)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    schema = dict(schema)
    kind = schema.get("type")
    schema["type"] = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def obj(properties: dict, required: list[str] | None = None, *, closed: bool = True, **extra) -> dict:
    """An object schema. Closed objects are ones the service builds field by field; rows read
    from a table are left open, as a table may gain columns."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required is None:
        required = list(properties)
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    schema.update(extra)
    return schema


STRING = {"type": "string"}
UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
E164 = {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$", "examples": ["+14155550100"]}


# ---------------------------------------------------------------------------------------
# Errors

AUTH_ERRORS = {
    401: ["missing_token", "invalid_token", "token_expired", "anonymous_user"],
    500: ["internal_error"],
    503: ["auth_not_configured"],
}
JSON_BODY_ERRORS = {400: ["invalid_json"], 413: ["request_entity_too_large"]}
WORKSPACE_ERRORS = {400: ["workspace_required", "invalid_workspace_id"], 404: ["workspace_not_found"]}
ROLE_ERRORS = {403: ["forbidden"]}
CREDENTIAL_ERRORS = {409: ["twilio_not_connected"], 503: ["credentials_unavailable", "encryption_not_configured"]}
TWILIO_ERRORS = {
    400: ["twilio_auth_failed", "twilio_error", TWILIO_CODE],
    404: ["twilio_error", TWILIO_CODE],
    422: ["twilio_21610"],
    429: ["twilio_rate_limited"],
    502: ["twilio_unavailable", "twilio_unreachable"],
    504: ["twilio_timeout"],
}
STRIPE_ERRORS = {
    502: ["stripe_misconfigured", "stripe_unreachable", "stripe_error"],
    503: ["stripe_busy", "billing_not_configured"],
}
PLAN_LIMIT_ERRORS = {402: ["plan_limit_reached"]}
RESTRICTION_ERRORS = {423: ["processing_restricted"]}

STATUS_TEXT = {
    400: "Bad request",
    401: "No valid access token",
    402: "The workspace's plan has no room for this",
    403: "Not allowed: the caller's role in the workspace is too low, or they have not confirmed their age",
    404: "Not found (or not the caller's to see)",
    409: "Conflicts with the current state",
    410: "No longer usable",
    413: "The request body is too large",
    415: "Unsupported body type",
    422: "The input cannot be used",
    423: "Processing is restricted for this account: nothing is sent, called or launched on its behalf",
    429: "Too many requests: Twilio's rate limit on the workspace's account, or one of NumeraLoop's limits",
    500: "Failed on the service's side",
    502: "Twilio or Stripe failed or could not be reached",
    503: "Not configured or unavailable on this server",
    504: "Twilio did not answer in time",
}


def merge(*groups: dict[int, list[str]]) -> dict[int, list[str]]:
    merged: dict[int, list[str]] = {}
    for group in groups:
        for status, codes in group.items():
            known = merged.setdefault(status, [])
            known.extend(c for c in codes if c not in known)
    return merged


def without(groups: dict[int, list[str]], status: int, *codes: str) -> dict[int, list[str]]:
    out = {s: list(c) for s, c in groups.items()}
    out[status] = [c for c in out.get(status, []) if c not in codes]
    if not out[status]:
        del out[status]
    return out


def error_response(status: int, codes: list[str]) -> dict:
    named = [c for c in codes if c != TWILIO_CODE]
    code: dict[str, Any] = {"type": "string", "enum": named}
    if TWILIO_CODE in codes:
        code = {"anyOf": [code, {"type": "string", "pattern": TWILIO_CODE_PATTERN}]}
    listed = ", ".join(f"`{c}`" for c in codes)
    return {
        "description": f"{STATUS_TEXT.get(status, 'Error')}. `error.code` is one of {listed}.",
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "additionalProperties": False,
                    "properties": {"error": {"allOf": [ref("ErrorDetail")], "properties": {"code": code}}},
                }
            }
        },
    }


def json_response(description: str, schema: dict) -> dict:
    return {
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {JSON: {"schema": schema}},
    }


def operation(
    operation_id: str,
    summary: str,
    description: str,
    tag: str,
    success: dict[int, dict],
    errors: dict[int, list[str]],
    *,
    parameters: list | None = None,
    request_body: dict | None = None,
    public: bool = False,
) -> dict:
    responses = {str(status): response for status, response in sorted(success.items())}
    for status, codes in sorted(errors.items()):
        responses[str(status)] = error_response(status, codes)
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": [tag],
        "responses": responses,
    }
    if parameters:
        op["parameters"] = parameters
    if request_body:
        op["requestBody"] = request_body
    if public:
        op["security"] = []
    return op


def retry_after(op: dict, status: int = 429) -> dict:
    """The operation's `status` answer also carries Retry-After (seconds)."""
    op["responses"][str(status)]["headers"]["Retry-After"] = {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
    return op


def json_body(schema: dict, required: bool = True) -> dict:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


WORKSPACE_PARAMS = [param("workspace_id"), param("X-Workspace-Id")]
WORKSPACE_ID_FIELD = {
    **UUID,
    "description": "The workspace; optional when the caller belongs to exactly one (also accepted as the "
    "`workspace_id` query parameter or `X-Workspace-Id`).",
}

RETURN_URL = {
    "type": "string",
    "format": "uri",
    "description": "Where Stripe sends the customer back to: a URL of this service (its public scheme, host and "
    "port; 400 url_not_allowed otherwise). Default: the service's public URL.",
}


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# ---------------------------------------------------------------------------------------
# Schemas of the answers

MESSAGE_STATUSES = [
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "canceled",
    "read",
    "partially_delivered",
    "receiving",
    "received",
]
CAMPAIGN_STATUSES = ["draft", "scheduled", "sending", "paused", "completed", "canceled"]
COUNT = {"type": "integer", "minimum": 0}
LIMIT = nullable({"type": "integer", "description": "null: unlimited"})

SCHEMAS: dict[str, dict] = {
    "ErrorDetail": obj(
        {
            "code": {"type": "string", "description": "What went wrong, for programs to branch on."},
            "message": {"type": "string", "description": "What went wrong, for people."},
            "field": {"type": "string", "description": "The input the error is about."},
            "twilio_code": {"type": "integer", "description": "Twilio's error code, when Twilio refused."},
            "stripe_code": {"type": "string", "description": "Stripe's error code, when Stripe refused."},
            "limit": {"type": "integer", "description": "plan_limit_reached: the plan's limit."},
            "used": {"type": "integer", "description": "plan_limit_reached: how much of it is used."},
            "plan": {"type": "string", "description": "plan_limit_reached: the workspace's plan."},
            "remaining": {"type": "integer", "description": "plan_limit_reached: messages left in the period."},
            "needed": {"type": "integer", "description": "plan_limit_reached: messages a campaign launch needs."},
            "period_end": {**TIME, "description": "plan_limit_reached: when the message period ends."},
            "import_id": {**UUID, "description": "Contacts import: the import that failed."},
            "import_status": {"type": "string", "enum": ["failed"]},
            "columns": {"type": "array", "items": STRING, "description": "no_phone_column: the file's columns."},
            "numbers": {
                "type": "array",
                "items": E164,
                "description": "twilio_numbers_attached: the numbers to release or detach first.",
            },
            "retry_after": {
                "type": "integer",
                "minimum": 1,
                "description": "export_rate_limited: seconds until another export may start.",
            },
        },
        ["code", "message"],
        closed=False,
        description="The error object. Contacts imports that fail after starting also carry the counts so far "
        "(rows, imported, updated, merged, opted_out, rejected_total, listed).",
    ),
    "Profile": obj({"id": UUID, "email": nullable(STRING), "full_name": STRING, "age_confirmed_at": nullable(TIME)}),
    "Membership": obj(
        {
            "id": UUID,
            "name": STRING,
            "is_personal": BOOL,
            "role": {"type": "string", "enum": ["owner", "admin", "agent"]},
        }
    ),
    "Me": obj(
        {
            "profile": nullable(ref("Profile")),
            "workspaces": {"type": "array", "items": ref("Membership")},
            "notices": {
                "type": "array",
                "items": ref("PolicyNotice"),
                "description": "Material changes to the privacy policy or terms to show the user: from 14 days "
                "before each takes effect until 30 days after.",
            },
        },
        ["profile", "workspaces"],
    ),
    "PolicyNotice": obj(
        {
            "id": UUID,
            "document": {"type": "string", "enum": ["privacy_policy", "terms_of_service"]},
            "version": STRING,
            "summary": STRING,
            "url": nullable({"type": "string", "format": "uri"}),
            "effective_at": TIME,
            "published_at": TIME,
        }
    ),
    "Invitation": obj(
        {
            "id": UUID,
            "workspace_id": UUID,
            "email": {"type": "string", "format": "email"},
            "role": {"type": "string", "enum": ["agent", "admin"]},
            "status": {"type": "string", "enum": ["pending", "accepted", "revoked", "expired"]},
            "invited_by": nullable(UUID),
            "created_at": TIME,
            "expires_at": TIME,
            "accepted_at": nullable(TIME),
            "accepted_by": nullable(UUID),
            "revoked_at": nullable(TIME),
        },
        description="An invitation to join a workspace; never its token.",
    ),
    "NewInvitation": obj(
        {
            "id": UUID,
            "workspace_id": UUID,
            "email": {"type": "string", "format": "email"},
            "role": {"type": "string", "enum": ["agent", "admin"]},
            "status": {"const": "pending"},
            "invited_by": nullable(UUID),
            "created_at": TIME,
            "expires_at": TIME,
            "accepted_at": {"type": "null"},
            "accepted_by": {"type": "null"},
            "revoked_at": {"type": "null"},
            "token": {
                "type": "string",
                "pattern": "^nlinv_[0-9a-f]{64}$",
                "description": "Shown this once: the invitee POSTs it to accept_url. Until e-mail sending exists, "
                "the inviting admin passes it on.",
            },
            "accept_url": {"type": "string", "format": "uri"},
        },
        description="A new invitation, with the token to accept it.",
    ),
    "AcceptedInvitation": obj(
        {
            "id": UUID,
            "workspace_id": UUID,
            "email": {"type": "string", "format": "email"},
            "role": {"type": "string", "enum": ["agent", "admin"]},
            "status": {"const": "accepted"},
            "invited_by": nullable(UUID),
            "created_at": TIME,
            "expires_at": TIME,
            "accepted_at": TIME,
            "accepted_by": UUID,
            "revoked_at": {"type": "null"},
            "already_member": {
                "type": "boolean",
                "description": "true: the caller was a member already and keeps their role",
            },
            "member_role": {"type": "string", "enum": ["owner", "admin", "agent"]},
        }
    ),
    "TwilioConnection": obj(
        {
            "connected": {"const": True},
            "workspace_id": UUID,
            "account_sid": {"type": "string", "pattern": "^AC[0-9a-f]{32}$"},
            "friendly_name": nullable(STRING),
            "account_status": nullable(STRING),
            "api_key_sid": nullable(STRING),
            "twiml_app_sid": nullable(STRING),
            "connected_at": TIME,
        },
        description="A connected Twilio account; secrets are never returned.",
    ),
    "TwilioNotConnected": obj({"connected": {"const": False}, "workspace_id": UUID}),
    "AvailableNumber": obj(
        {
            "phone_number": E164,
            "friendly_name": nullable(STRING),
            "locality": nullable(STRING),
            "region": nullable(STRING),
            "iso_country": nullable(STRING),
            "capabilities": {"type": "object", "additionalProperties": {"type": "boolean"}},
        }
    ),
    "PhoneNumber": obj(
        {
            "id": UUID,
            "workspace_id": UUID,
            "twilio_account_id": nullable(UUID),
            "twilio_sid": {"type": "string", "pattern": "^PN[0-9a-f]{32}$"},
            "e164": E164,
            "friendly_name": nullable(STRING),
            "capabilities": {"type": "object"},
            "number_type": {"type": "string", "enum": ["local", "toll_free", "mobile", "other"]},
            "forward_to": {"type": "array", "items": E164},
            "whisper_text": nullable(STRING),
            "voicemail_enabled": BOOL,
            "status": {"type": "string", "enum": ["active", "releasing", "released", "detached"]},
            "created_at": TIME,
            "updated_at": TIME,
            "released_at": nullable(TIME),
        },
        ["id", "workspace_id", "twilio_sid", "e164", "status"],
        closed=False,
        description="A row of public.phone_numbers.",
    ),
    "NumberImport": obj(
        {
            "imported": {"type": "array", "items": ref("PhoneNumber")},
            "skipped": {"type": "array", "items": obj({"phone_number": STRING, "reason": STRING})},
        }
    ),
    "Message": obj(
        {
            "id": UUID,
            "conversation_id": UUID,
            "contact_id": UUID,
            "status": {"type": "string", "enum": MESSAGE_STATUSES},
            "twilio_sid": nullable(STRING),
            "from": E164,
            "to": E164,
            "replayed": {"type": "boolean", "description": "true: an Idempotency-Key replay"},
            "num_segments": {"type": "integer", "minimum": 1},
            "encoding": {"type": "string", "enum": ["gsm7", "ucs2"]},
        }
    ),
    "ContactImport": obj(
        {
            "import_id": UUID,
            "status": {"const": "completed"},
            "workspace_id": UUID,
            "rows": COUNT,
            "imported": COUNT,
            "updated": COUNT,
            "merged": COUNT,
            "opted_out": COUNT,
            "rejected_total": COUNT,
            "listed": nullable(COUNT),
            "rejected": {
                "type": "array",
                "description": "At most 1,000 rows, by line number.",
                "items": obj({"row": {"type": ["integer", "string"]}, "reason": STRING}),
            },
            "list_id": nullable(UUID),
            "columns": {
                "type": "object",
                "additionalProperties": nullable(STRING),
                "description": "The mapping used: CSV column to field, custom.<key>, or null (ignored).",
            },
        }
    ),
    "VoiceToken": obj(
        {"token": STRING, "identity": STRING, "expires_in": INT, "workspace_id": UUID, "twiml_app_sid": STRING}
    ),
    "CampaignState": obj(
        {
            "campaign_id": UUID,
            "status": {"type": "string", "enum": CAMPAIGN_STATUSES},
            "scheduled_at": nullable(TIME),
            "send_rate": {"type": "number"},
            "recipients_total": COUNT,
            "pending": COUNT,
            "skipped_opted_out": COUNT,
            "last_error": nullable(STRING),
            "already_launched": {
                "type": "boolean",
                "description": "launch only: true when it had been launched before",
            },
        },
        [
            "campaign_id",
            "status",
            "scheduled_at",
            "send_rate",
            "recipients_total",
            "pending",
            "skipped_opted_out",
            "last_error",
        ],
    ),
    "CampaignReport": obj(
        {
            "campaign_id": UUID,
            "name": STRING,
            "status": {"type": "string", "enum": CAMPAIGN_STATUSES},
            "send_rate": {"type": "number"},
            "scheduled_at": nullable(TIME),
            "launched_at": nullable(TIME),
            "started_at": nullable(TIME),
            "completed_at": nullable(TIME),
            "canceled_at": nullable(TIME),
            "last_error": nullable(STRING),
            "recipients_total": COUNT,
            "recipients": obj(
                {
                    k: COUNT
                    for k in (
                        "pending",
                        "claimed",
                        "uncertain",
                        "sent",
                        "failed",
                        "skipped_opted_out",
                        "skipped_removed",
                        "skipped_unreachable",
                        "canceled",
                    )
                }
            ),
            "delivery": {
                "type": "object",
                "additionalProperties": COUNT,
                "required": ["queued", "sending", "sent", "delivered", "undelivered", "failed"],
                "description": "Messages by delivery status, as Twilio's status callbacks left them.",
            },
            "segments": COUNT,
            "errors": {
                "type": "array",
                "items": obj({"error_code": INT, "count": COUNT, "meaning": nullable(STRING)}),
                "description": "Error codes seen, most frequent first, each explained in a sentence.",
            },
        }
    ),
    "CampaignEstimate": obj(
        {
            "campaign_id": UUID,
            "status": {"type": "string", "enum": CAMPAIGN_STATUSES},
            "recipients": {**COUNT, "description": "The audience (a draft's as launching it now would take it)."},
            "sendable": {**COUNT, "description": "Recipients who would be texted."},
            "skipped": obj(
                {
                    "opted_out": COUNT,
                    "invalid": {**COUNT, "description": "Not valid phone numbers: Twilio would refuse them."},
                    "removed": COUNT,
                    "unreachable": {**COUNT, "description": "Numbers a carrier reported unreachable before."},
                    "canceled": COUNT,
                }
            ),
            "kind": {"type": "string", "enum": ["sms", "mms"]},
            "transliterate": BOOL,
            "encoding": {"type": "string", "enum": ["gsm7", "ucs2", "mixed"]},
            "messages_by_encoding": obj({"gsm7": COUNT, "ucs2": COUNT}),
            "segments": {**COUNT, "description": "SMS segments in all (an MMS counts 1), each body rendered."},
            "max_segments_per_message": COUNT,
            "cost": obj(
                {
                    "total": {"type": "number"},
                    "currency": nullable(STRING),
                    "by_country": {
                        "type": "array",
                        "items": obj(
                            {
                                "country": STRING,
                                "recipients": COUNT,
                                "segments": COUNT,
                                "unit_price": nullable({"type": "number"}),
                                "currency": nullable(STRING),
                                "cost": nullable({"type": "number"}),
                            }
                        ),
                    },
                }
            ),
            "warnings": {
                "type": "array",
                "items": obj(
                    {
                        "code": {"type": "string", "enum": ["ucs2_characters", "no_price", "mixed_currencies"]},
                        "message": STRING,
                        "characters": {
                            "type": "array",
                            "items": obj({"character": STRING, "replacement": nullable(STRING)}),
                        },
                        "segments_with_transliteration": COUNT,
                        "countries": {"type": "array", "items": STRING},
                    },
                    ["code", "message"],
                ),
            },
        }
    ),
    "ScheduledMessage": obj(
        {
            "campaign_id": {**UUID, "description": "Cancel it with POST /campaigns/{campaign_id}/cancel."},
            "status": {"type": "string", "enum": CAMPAIGN_STATUSES},
            "scheduled_at": nullable(TIME),
            "send_rate": {"type": "number"},
            "recipients_total": COUNT,
            "pending": COUNT,
            "skipped_opted_out": COUNT,
            "last_error": nullable(STRING),
            "kind": {"type": "string", "enum": ["single"]},
            "to": E164,
        }
    ),
    "Limits": obj({"phone_numbers": LIMIT, "monthly_messages": LIMIT, "seats": LIMIT}, closed=False),
    "Plan": obj(
        {
            "id": STRING,
            "name": STRING,
            "amount_cents": COUNT,
            "currency": STRING,
            "interval": {"type": "string", "enum": ["month", "year"]},
            "limits": ref("Limits"),
        },
        closed=False,
    ),
    "Entitlements": obj(
        {
            "workspace_id": UUID,
            "plan": STRING,
            "plan_name": STRING,
            "subscription_status": nullable(STRING),
            "current_period_end": nullable(TIME),
            "cancel_at_period_end": nullable(BOOL),
            "limits": ref("Limits"),
        },
        closed=False,
    ),
    "Usage": obj(
        {
            "workspace_id": UUID,
            "plan": STRING,
            "plan_name": STRING,
            "phone_numbers": obj({"used": COUNT, "limit": LIMIT}),
            "seats": obj({"used": COUNT, "limit": LIMIT}),
            "monthly_messages": obj(
                {"used": COUNT, "limit": LIMIT, "remaining": nullable(COUNT), "period_start": TIME, "period_end": TIME}
            ),
        },
        closed=False,
    ),
    "Subscription": obj(
        {
            "stripe_subscription_id": STRING,
            "plan_id": nullable(STRING),
            "status": {
                "type": "string",
                "enum": [
                    "incomplete",
                    "incomplete_expired",
                    "trialing",
                    "active",
                    "past_due",
                    "canceled",
                    "unpaid",
                    "paused",
                ],
            },
            "current_period_start": nullable(TIME),
            "current_period_end": nullable(TIME),
            "cancel_at_period_end": BOOL,
            "canceled_at": nullable(TIME),
        },
        closed=False,
    ),
    "Invoice": obj(
        {
            "stripe_invoice_id": STRING,
            "number": nullable(STRING),
            "status": nullable({"type": "string", "enum": ["draft", "open", "paid", "uncollectible", "void"]}),
            "currency": STRING,
            "amount_due": INT,
            "amount_paid": INT,
            "total": INT,
            "hosted_invoice_url": nullable(STRING),
            "period_start": nullable(TIME),
            "period_end": nullable(TIME),
            "stripe_created": TIME,
        },
        closed=False,
    ),
    "PaymentMethod": obj(
        {
            "stripe_payment_method_id": STRING,
            "brand": nullable(STRING),
            "last4": nullable(STRING),
            "exp_month": nullable(INT),
            "exp_year": nullable(INT),
        },
        closed=False,
    ),
    "Billing": obj(
        {
            "workspace_id": UUID,
            "plan": STRING,
            "entitlements": ref("Entitlements"),
            "usage": ref("Usage"),
            "subscription": nullable(ref("Subscription")),
            "plans": {"type": "array", "items": ref("Plan")},
            "invoices": {"type": "array", "items": ref("Invoice"), "description": "Owners and admins only."},
            "payment_methods": {
                "type": "array",
                "items": ref("PaymentMethod"),
                "description": "Owners and admins only.",
            },
        },
        ["workspace_id", "plan", "entitlements", "usage", "subscription", "plans"],
    ),
    "CheckoutSession": obj({"url": {"type": "string", "format": "uri"}, "session_id": STRING, "plan": STRING}),
    "PortalSession": obj({"url": {"type": "string", "format": "uri"}}),
    "DeletionRequest": obj(
        {
            "id": UUID,
            "kind": {"const": "deletion"},
            "status": {"type": "string", "enum": ["requested", "scheduled", "completed", "canceled", "failed"]},
            "requested_at": TIME,
            "scheduled_for": TIME,
            "canceled_at": nullable(TIME),
            "completed_at": nullable(TIME),
        }
    ),
    "Deletion": obj(
        {
            "deletion": nullable(ref("DeletionRequest")),
            "grace_period_days": INT,
            "workspaces_deleted_with_account": {
                "type": "array",
                "items": obj({"id": UUID, "name": STRING}),
                "description": "Workspaces the caller owns alone: deleted with them.",
            },
        }
    ),
    "Export": obj(
        {
            "format_version": {"const": 2},
            "exported_at": TIME,
            "user_id": UUID,
            "what_we_hold": obj(
                {
                    "summary": STRING,
                    "categories": {
                        "type": "array",
                        "items": obj(
                            {
                                "category": STRING,
                                "data": STRING,
                                "tables": {"type": "array", "items": STRING},
                                "source": STRING,
                                "purposes": {"type": "array", "items": STRING},
                                "retention": STRING,
                            }
                        ),
                    },
                    "processors": {"type": "array", "items": obj({"name": STRING, "what": STRING, "data": STRING})},
                    "your_rights": STRING,
                },
                description="What we hold and why: categories of data with their tables, sources, purposes and "
                "retention, and the processors (Twilio, Stripe, Supabase).",
            ),
            "profile": nullable({"type": "object"}),
            "memberships": {"type": "array", "items": {"type": "object"}},
            "workspaces": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Each workspace's row with its tables (twilio_accounts, phone_numbers, contacts, "
                "messages with their media, opt_out_events, webhook_deliveries, workspace_invitations, ...).",
            },
            **{
                table: {"type": "array", "items": {"type": "object"}}
                for table in (
                    "access_log",
                    "data_requests",
                    "processing_restrictions",
                    "consent_events",
                    "notice_emails",
                )
            },
        },
        [
            "format_version",
            "exported_at",
            "user_id",
            "what_we_hold",
            "profile",
            "memberships",
            "workspaces",
            "access_log",
            "data_requests",
        ],
    ),
    "DataRequest": obj(
        {
            "id": UUID,
            "law": nullable({"type": "string", "enum": ["gdpr", "ccpa", "pipeda"]}),
            "kind": {"type": "string", "enum": list(requests_api.ALL_KINDS)},
            "status": {"type": "string", "enum": list(requests_api.STATUSES)},
            "channel": {"type": "string", "enum": ["product", "email"]},
            "requested_at": TIME,
            "due_at": nullable(TIME),
            "identity_verification": nullable({"type": "string", "enum": ["pending", "verified", "failed"]}),
            "description": nullable(STRING),
            "outcome": nullable(STRING),
            "scheduled_for": nullable(TIME),
            "completed_at": nullable(TIME),
            "canceled_at": nullable(TIME),
        },
        description="A request about the caller's data: a data-subject request under a law (due_at: when the "
        "answer is due), or the product's own export or deletion (law null).",
    ),
    "Restriction": obj(
        {
            "restricted": BOOL,
            "restricted_at": nullable(TIME),
            "source": nullable({"type": "string", "enum": ["product", "email", "operator"]}),
        }
    ),
    "Consent": obj(
        {
            "product_emails": obj(
                {
                    "granted": BOOL,
                    "recorded_at": nullable(TIME),
                    "source": nullable(
                        {"type": "string", "enum": ["settings", "api", "data_request", "email_request", "operator"]}
                    ),
                },
                description="Consent to product e-mails (newsletters); with no record, none.",
            )
        }
    ),
}


# ---------------------------------------------------------------------------------------
# The operations


def _paths() -> dict:
    auth = AUTH_ERRORS
    workspace = merge(auth, WORKSPACE_ERRORS)
    body_workspace = merge(workspace, JSON_BODY_ERRORS)
    with_twilio = merge(CREDENTIAL_ERRORS, TWILIO_ERRORS)
    campaign_path = [param("campaign_id")]
    campaign_admin = merge(auth, {403: ["forbidden"], 404: ["campaign_not_found"], 409: ["campaign_state"]})

    def campaign_action(verb: str, summary: str, description: str, errors: dict | None = None) -> dict:
        return {
            "post": operation(
                f"{verb}Campaign",
                summary,
                description,
                "campaigns",
                {200: json_response("The campaign's state.", ref("CampaignState"))},
                merge(campaign_admin, errors or {}),
                parameters=campaign_path,
            )
        }

    return {
        "/openapi.json": {
            "get": operation(
                "getOpenApiDescription",
                "This description",
                "The OpenAPI 3.1 description of /api/v1. No token needed.",
                "meta",
                {200: json_response("The OpenAPI document.", {"type": "object", "required": ["openapi", "paths"]})},
                {},
                public=True,
            )
        },
        "/me": {
            "get": operation(
                "getMe",
                "Who the token belongs to",
                "The caller's profile and the workspaces they belong to, with their "
                "role in each. `profile` is null for an account deleted since the token was issued.",
                "account",
                {200: json_response("The caller.", ref("Me"))},
                auth,
            )
        },
        "/workspaces/{workspace_id}/invitations": {
            "post": operation(
                "inviteToWorkspace",
                "Invite someone to the workspace",
                "Admins and owners. Invites an e-mail address "
                "as agent or admin for 7 days; inviting the same address again replaces the open invitation. The "
                "answer carries the token, the only time it is shown.",
                "workspaces",
                {201: json_response("Invited.", ref("NewInvitation"))},
                merge(
                    auth,
                    JSON_BODY_ERRORS,
                    {
                        404: ["workspace_not_found"],
                        403: ["forbidden", "role_not_invitable"],
                        409: ["already_member"],
                        422: ["missing_field", "invalid_field", "invalid_role", "invalid_email"],
                    },
                ),
                parameters=[param("workspace_path_id")],
                request_body=json_body(
                    obj(
                        {
                            "email": {"type": "string", "maxLength": 320},
                            "role": {"type": "string", "enum": ["agent", "admin"], "default": "agent"},
                        },
                        ["email"],
                        closed=False,
                    )
                ),
            ),
            "get": operation(
                "listInvitations",
                "The workspace's invitations",
                "Admins and owners. Newest first, with their status; never a token.",
                "workspaces",
                {
                    200: json_response(
                        "The invitations.", obj({"invitations": {"type": "array", "items": ref("Invitation")}})
                    )
                },
                merge(auth, {404: ["workspace_not_found"], 403: ["forbidden"]}),
                parameters=[param("workspace_path_id")],
            ),
        },
        "/workspaces/{workspace_id}/invitations/{invitation_id}": {
            "delete": operation(
                "revokeInvitation",
                "Revoke an invitation",
                "Admins and owners. Its token stops working; revoking again "
                "changes nothing. An accepted invitation cannot be revoked (remove the member instead).",
                "workspaces",
                {200: json_response("The invitation, revoked.", ref("Invitation"))},
                merge(
                    auth,
                    {
                        404: ["workspace_not_found", "invitation_not_found"],
                        403: ["forbidden"],
                        409: ["invitation_already_accepted"],
                    },
                ),
                parameters=[param("workspace_path_id"), param("invitation_id")],
            )
        },
        "/invitations/accept": {
            "post": operation(
                "acceptInvitation",
                "Accept an invitation",
                "The invitee, signed in with the invited e-mail address confirmed, joins the workspace with the "
                "invited role. Single use; the workspace's seats must have room.",
                "workspaces",
                {200: json_response("Joined.", ref("AcceptedInvitation"))},
                merge(
                    auth,
                    JSON_BODY_ERRORS,
                    PLAN_LIMIT_ERRORS,
                    {
                        404: ["invitation_not_found"],
                        403: ["forbidden", "email_not_verified", "invitation_email_mismatch"],
                        409: ["invitation_already_accepted"],
                        410: ["invitation_expired", "invitation_revoked"],
                        422: ["missing_field", "invalid_field"],
                    },
                ),
                request_body=json_body(obj({"token": {"type": "string", "writeOnly": True}}, ["token"], closed=False)),
            )
        },
        "/twilio/connect": {
            "post": operation(
                "connectTwilio",
                "Connect a Twilio account",
                "Admins. Verifies the Account SID and auth token with "
                "Twilio, creates an API key and the browser-calling TwiML app, and stores the secrets encrypted. "
                "Connecting again replaces the workspace's account: the same account (e.g. with a new auth token) "
                "always, another one only while the workspace has no active or releasing numbers. A Twilio account "
                "serves one workspace only.",
                "twilio",
                {201: json_response("Connected.", ref("TwilioConnection"))},
                merge(
                    body_workspace,
                    ROLE_ERRORS,
                    {
                        409: ["twilio_account_in_use", "twilio_numbers_attached"],
                        422: ["missing_field", "invalid_field", "invalid_account_sid", "twilio_credentials_invalid"],
                        503: ["encryption_not_configured"],
                    },
                    TWILIO_ERRORS,
                ),
                parameters=WORKSPACE_PARAMS,
                request_body=json_body(
                    obj(
                        {
                            "workspace_id": WORKSPACE_ID_FIELD,
                            "account_sid": {"type": "string", "pattern": "^AC[0-9a-f]{32}$"},
                            "auth_token": {"type": "string", "maxLength": 128, "writeOnly": True},
                        },
                        ["account_sid", "auth_token"],
                        closed=False,
                    )
                ),
            )
        },
        "/twilio/status": {
            "get": operation(
                "getTwilioStatus",
                "The workspace's Twilio connection",
                "Members. Whether a Twilio account is connected, and which; never a secret.",
                "twilio",
                {
                    200: json_response(
                        "The connection.", {"oneOf": [ref("TwilioConnection"), ref("TwilioNotConnected")]}
                    )
                },
                workspace,
                parameters=WORKSPACE_PARAMS,
            )
        },
        "/numbers/available": {
            "get": operation(
                "searchAvailableNumbers",
                "Search numbers to buy",
                "Members. Numbers Twilio offers to the workspace's account.",
                "numbers",
                {
                    200: json_response(
                        "Numbers on offer.", obj({"numbers": {"type": "array", "items": ref("AvailableNumber")}})
                    )
                },
                merge(
                    workspace,
                    with_twilio,
                    {
                        422: [
                            "invalid_country",
                            "invalid_type",
                            "invalid_area_code",
                            "invalid_contains",
                            "invalid_limit",
                        ]
                    },
                ),
                parameters=[
                    *WORKSPACE_PARAMS,
                    query(
                        "country",
                        {"type": "string", "pattern": "^[A-Za-z]{2}$", "default": "US"},
                        "ISO 3166 country code.",
                    ),
                    query(
                        "type",
                        {"type": "string", "enum": ["local", "toll_free"], "default": "local"},
                        "Kind of number.",
                    ),
                    query("area_code", {"type": "string", "pattern": "^[0-9]{2,5}$"}, "Area code."),
                    query(
                        "contains",
                        {"type": "string", "maxLength": 16, "pattern": "^[A-Za-z0-9*+]+$"},
                        "Digits or letters the number contains; * matches any digit.",
                    ),
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
                        "How many (capped at 50).",
                    ),
                ],
            )
        },
        "/numbers": {
            "post": operation(
                "buyNumber",
                "Buy a number",
                "Admins. Buys the number at Twilio with its webhooks pointed at NumeraLoop. "
                "If it cannot be recorded, the purchase is undone at Twilio (500 number_not_stored).",
                "numbers",
                {201: json_response("The bought number.", ref("PhoneNumber"))},
                merge(
                    body_workspace,
                    ROLE_ERRORS,
                    with_twilio,
                    PLAN_LIMIT_ERRORS,
                    {422: ["missing_field", "invalid_field", "invalid_phone_number"], 500: ["number_not_stored"]},
                ),
                parameters=WORKSPACE_PARAMS,
                request_body=json_body(
                    obj(
                        {
                            "workspace_id": WORKSPACE_ID_FIELD,
                            "phone_number": E164,
                            "friendly_name": {"type": "string", "maxLength": 64},
                        },
                        ["phone_number"],
                        closed=False,
                    )
                ),
            )
        },
        "/numbers/import": {
            "post": operation(
                "importNumbers",
                "Adopt the account's numbers",
                "Admins. Points the webhooks of numbers already in the "
                "Twilio account at NumeraLoop (all of them, or those listed). A number that fails is reported under "
                "`skipped`; the others still import. When the numbers it would add do not fit the plan's limit, "
                "nothing is imported or changed at Twilio (402 plan_limit_reached).",
                "numbers",
                {200: json_response("What was imported and skipped.", ref("NumberImport"))},
                merge(body_workspace, ROLE_ERRORS, with_twilio, PLAN_LIMIT_ERRORS, {422: ["invalid_field"]}),
                parameters=WORKSPACE_PARAMS,
                request_body=json_body(
                    obj(
                        {"workspace_id": WORKSPACE_ID_FIELD, "phone_numbers": {"type": "array", "items": E164}},
                        [],
                        closed=False,
                    ),
                    required=False,
                ),
            )
        },
        "/numbers/{number_id}": {
            "delete": operation(
                "releaseNumber",
                "Release or detach a number",
                "Admins. `release` gives the number back to Twilio; "
                "`detach` clears its webhooks and leaves it in the Twilio account.",
                "numbers",
                {200: json_response("The number, now released or detached.", ref("PhoneNumber"))},
                merge(auth, ROLE_ERRORS, {404: ["number_not_found"], 422: ["invalid_mode"]}, with_twilio),
                parameters=[
                    param("number_id"),
                    query(
                        "mode",
                        {"type": "string", "enum": ["release", "detach"], "default": "release"},
                        "What to do with it at Twilio.",
                    ),
                ],
            )
        },
        "/messages": {
            "post": operation(
                "sendMessage",
                "Send an SMS or MMS",
                "Members. Records the message, then hands it to Twilio with a status "
                "callback. A repeated `Idempotency-Key` answers 200 with the first message and sends nothing.",
                "messaging",
                {
                    201: json_response("Sent to Twilio.", ref("Message")),
                    200: json_response("A replay of an earlier request with this Idempotency-Key.", ref("Message")),
                },
                merge(
                    body_workspace,
                    PLAN_LIMIT_ERRORS,
                    RESTRICTION_ERRORS,
                    CREDENTIAL_ERRORS,
                    without(TWILIO_ERRORS, 422, "twilio_21610"),
                    {
                        400: ["invalid_idempotency_key"],
                        409: ["recipient_opted_out"],
                        422: [
                            "missing_field",
                            "invalid_field",
                            "body_too_long",
                            "too_many_media",
                            "invalid_media_url",
                            "media_url_too_long",
                            "empty_message",
                            "invalid_to",
                            "unknown_sender",
                        ],
                    },
                ),
                parameters=[
                    *WORKSPACE_PARAMS,
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        "description": "Makes a retried request return the first result and send nothing more.",
                    },
                ],
                request_body=json_body(
                    obj(
                        {
                            "workspace_id": WORKSPACE_ID_FIELD,
                            "from_number_id": {**UUID, "description": "The sending number's id (or give `from`)."},
                            "from": {**E164, "description": "The sending number (or give `from_number_id`)."},
                            "to": {
                                "type": "string",
                                "maxLength": 32,
                                "description": "E.164, or national in the sending number's country.",
                            },
                            "body": {"type": "string", "maxLength": 1600},
                            "media_urls": {
                                "type": "array",
                                "maxItems": 10,
                                "items": {"type": "string", "format": "uri", "maxLength": 2000},
                            },
                        },
                        ["to"],
                        closed=False,
                    )
                ),
            )
        },
        "/contacts/import": {
            "post": operation(
                "importContacts",
                "Import contacts from a CSV",
                "Members. Streams the CSV in batches; the import can be "
                "followed through PostgREST (`contact_imports?id=eq.<import_id>`). Bad rows are listed and skipped. A "
                "file that turns out to be malformed keeps the rows before the bad line and answers 422 with the "
                "import's id and counts.",
                "contacts",
                {200: json_response("The import, completed.", ref("ContactImport"))},
                merge(
                    workspace,
                    {
                        400: ["bad_request"],
                        404: ["list_not_found"],
                        409: ["import_not_running"],
                        413: ["request_entity_too_large"],
                        415: ["unsupported_media_type"],
                        422: [
                            "missing_file",
                            "missing_field",
                            "invalid_field",
                            "invalid_mapping",
                            "invalid_list_id",
                            "invalid_default_country",
                            "invalid_tags",
                            "invalid_encoding",
                            "empty_file",
                            "not_csv",
                            "malformed_csv",
                            "too_many_columns",
                            "unknown_column",
                            "no_phone_column",
                            "no_rows",
                        ],
                    },
                ),
                parameters=[
                    *WORKSPACE_PARAMS,
                    query(
                        "consent_source",
                        {"type": "string", "maxLength": 200},
                        "As the form field, for a text/csv body.",
                    ),
                    query("mapping", STRING, "As the form field, for a text/csv body."),
                    query("default_country", STRING, "As the form field, for a text/csv body."),
                    query("tags", STRING, "As the form field, for a text/csv body."),
                    query("list_id", UUID, "As the form field, for a text/csv body."),
                    query("encoding", STRING, "As the form field, for a text/csv body."),
                    query("filename", STRING, "The file's name, recorded with a text/csv body."),
                ],
                request_body={
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": obj(
                                {
                                    "file": {
                                        "type": "string",
                                        "contentMediaType": "text/csv",
                                        "description": "The CSV.",
                                    },
                                    "consent_source": {
                                        "type": "string",
                                        "maxLength": 200,
                                        "description": "How these people agreed to be texted.",
                                    },
                                    "mapping": {
                                        "type": "string",
                                        "description": "JSON object: CSV column to field (phone, first_name, ..., "
                                        "custom.<key>, or null to ignore).",
                                    },
                                    "default_country": {
                                        "type": "string",
                                        "description": "Region for national numbers, e.g. US.",
                                    },
                                    "tags": {
                                        "type": "string",
                                        "description": "Comma-separated tags for every contact.",
                                    },
                                    "list_id": {**UUID, "description": "A contact list to add them to."},
                                    "encoding": {
                                        "type": "string",
                                        "description": "The file's text encoding (default: detected).",
                                    },
                                    "workspace_id": WORKSPACE_ID_FIELD,
                                },
                                ["file", "consent_source"],
                                closed=False,
                            )
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
            )
        },
        "/voice/token": {
            "post": operation(
                "createVoiceToken",
                "A Twilio Voice token for browser calling",
                "Members. Valid for an hour, for the caller's own identity, through the workspace's TwiML app.",
                "voice",
                {200: json_response("The token.", ref("VoiceToken"))},
                merge(body_workspace, CREDENTIAL_ERRORS, RESTRICTION_ERRORS, {409: ["voice_not_configured"]}),
                parameters=WORKSPACE_PARAMS,
                request_body=json_body(obj({"workspace_id": WORKSPACE_ID_FIELD}, [], closed=False), required=False),
            )
        },
        "/campaigns/{campaign_id}/launch": {
            "post": operation(
                "launchCampaign",
                "Launch a campaign",
                "Admins. Snapshots a draft's audience and starts sending, or "
                "schedules it. Launching again changes nothing and answers 200.",
                "campaigns",
                {
                    201: json_response("Launched.", ref("CampaignState")),
                    200: json_response("It had been launched before; nothing changed.", ref("CampaignState")),
                },
                merge(
                    campaign_admin,
                    JSON_BODY_ERRORS,
                    PLAN_LIMIT_ERRORS,
                    RESTRICTION_ERRORS,
                    {409: ["twilio_not_connected"], 422: ["invalid_field", "campaign_not_sendable"]},
                ),
                parameters=campaign_path,
                request_body=json_body(
                    obj(
                        {"scheduled_at": {**TIME, "description": "With a timezone; in the future to schedule."}},
                        [],
                        closed=False,
                    ),
                    required=False,
                ),
            )
        },
        "/campaigns/{campaign_id}/pause": campaign_action(
            "pause", "Pause a campaign", "Admins. Stops claiming recipients; pausing a paused one changes nothing."
        ),
        "/campaigns/{campaign_id}/resume": campaign_action(
            "resume",
            "Resume a campaign",
            "Admins. A paused campaign sends again (or waits for its time).",
            RESTRICTION_ERRORS,
        ),
        "/campaigns/{campaign_id}/cancel": campaign_action(
            "cancel", "Cancel a campaign", "Admins. Stops it for good; recipients not yet sent become canceled."
        ),
        "/campaigns/{campaign_id}/report": {
            "get": operation(
                "getCampaignReport",
                "A campaign's delivery report",
                "Members. Recipients by outcome, their messages by delivery status, and the error codes seen.",
                "campaigns",
                {200: json_response("The report.", ref("CampaignReport"))},
                merge(auth, {404: ["campaign_not_found"]}),
                parameters=campaign_path,
            )
        },
        "/campaigns/{campaign_id}/estimate": {
            "get": operation(
                "getCampaignEstimate",
                "What a campaign would send, and cost",
                "Members. Every recipient's body rendered as it would be sent: recipients, those skipped "
                "(opted out, invalid numbers), segments and encoding, cost from the per-country prices "
                "(message_prices), and warnings naming the characters that force UCS-2 with their GSM-7 "
                "replacements.",
                "campaigns",
                {200: json_response("The estimate.", ref("CampaignEstimate"))},
                merge(auth, {404: ["campaign_not_found"]}),
                parameters=campaign_path,
            )
        },
        "/campaigns/{campaign_id}/report.csv": {
            "get": operation(
                "getCampaignReportCsv",
                "A campaign's report as CSV",
                "Members. One row per recipient: number, outcome, delivery status, error code and what it "
                "means, segments, Twilio SID, when it was sent.",
                "campaigns",
                {
                    200: {
                        "description": "The report, as an attachment.",
                        "headers": {
                            "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
                            "Content-Disposition": {"schema": STRING},
                        },
                        "content": {"text/csv": {"schema": {"type": "string", "contentMediaType": "text/csv"}}},
                    }
                },
                merge(auth, {404: ["campaign_not_found"]}),
                parameters=campaign_path,
            )
        },
        "/scheduled-messages": {
            "post": operation(
                "scheduleMessage",
                "Send a message later",
                "Members. One message from one of the workspace's numbers at `send_at`, sent by the campaign "
                "workers with the same claims, reconciliation and quiet hours (the workspace's window, in the "
                "recipient's local time). Cancel it with POST /campaigns/{campaign_id}/cancel.",
                "campaigns",
                {201: json_response("Scheduled.", ref("ScheduledMessage"))},
                merge(
                    body_workspace,
                    {
                        409: ["recipient_opted_out"],
                        422: ["missing_field", "invalid_field", "invalid_to"],
                    },
                ),
                request_body=json_body(
                    obj(
                        {
                            "workspace_id": WORKSPACE_ID_FIELD,
                            "from_number_id": UUID,
                            "to": STRING,
                            "body": {"type": "string", "maxLength": 1600},
                            "send_at": {**TIME, "description": "With a timezone; now or past: as soon as allowed."},
                        },
                        ["from_number_id", "to", "body", "send_at"],
                        closed=False,
                    )
                ),
            )
        },
        "/billing": {
            "get": operation(
                "getBilling",
                "Plan, entitlements and usage",
                "Members. Owners and admins also get invoices and payment methods.",
                "billing",
                {200: json_response("The workspace's billing.", ref("Billing"))},
                workspace,
                parameters=WORKSPACE_PARAMS,
            )
        },
        "/billing/checkout": {
            "post": operation(
                "startCheckout",
                "Start a Stripe Checkout",
                "Owners and admins. A Stripe Checkout URL for the plan; the "
                "subscription arrives through Stripe's webhook.",
                "billing",
                {201: json_response("Where to send the customer.", ref("CheckoutSession"))},
                merge(
                    body_workspace,
                    ROLE_ERRORS,
                    {
                        400: ["url_not_allowed"],
                        409: ["already_subscribed"],
                        422: ["missing_field", "invalid_field", "unknown_plan", "plan_not_purchasable"],
                    },
                    STRIPE_ERRORS,
                ),
                parameters=WORKSPACE_PARAMS,
                request_body=json_body(
                    obj(
                        {
                            "workspace_id": WORKSPACE_ID_FIELD,
                            "plan": {"type": "string", "maxLength": 32},
                            "success_url": RETURN_URL,
                            "cancel_url": RETURN_URL,
                        },
                        ["plan"],
                        closed=False,
                    )
                ),
            )
        },
        "/billing/portal": {
            "post": operation(
                "openBillingPortal",
                "Open the Stripe Billing Portal",
                "Owners and admins, once the workspace has checked out.",
                "billing",
                {201: json_response("Where to send the customer.", ref("PortalSession"))},
                merge(
                    body_workspace,
                    ROLE_ERRORS,
                    {400: ["url_not_allowed"], 409: ["no_billing_account"], 422: ["invalid_field"]},
                    STRIPE_ERRORS,
                ),
                parameters=WORKSPACE_PARAMS,
                request_body=json_body(
                    obj(
                        {"workspace_id": WORKSPACE_ID_FIELD, "return_url": RETURN_URL},
                        [],
                        closed=False,
                    ),
                    required=False,
                ),
            )
        },
        "/me/export": {
            "get": retry_after(
                operation(
                    "exportMyData",
                    "Export my data",
                    "Everything the caller can read about themself and in their workspaces, with what we hold and "
                    "why, as a download streamed from the database: one JSON document, or a zip of one CSV per table "
                    "and what_we_hold.txt. At most 5 exports per user an hour (429 export_rate_limited, Retry-After).",
                    "privacy",
                    {
                        200: {
                            "description": "The export, as an attachment.",
                            "headers": {
                                "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
                                "Content-Disposition": {"schema": STRING},
                            },
                            "content": {
                                JSON: {"schema": ref("Export")},
                                "application/zip": {
                                    "schema": {"type": "string", "contentMediaType": "application/zip"}
                                },
                            },
                        }
                    },
                    merge(auth, {404: ["account_not_found"], 422: ["invalid_format"], 429: ["export_rate_limited"]}),
                    parameters=[
                        query(
                            "format",
                            {"type": "string", "enum": ["json", "csv"], "default": "json"},
                            "json: one document; csv: a zip of CSV files.",
                        )
                    ],
                )
            )
        },
        "/me/deletion": {
            "post": operation(
                "requestAccountDeletion",
                "Delete my account",
                "Schedules the deletion after the grace period; asking again answers with the open request.",
                "privacy",
                {202: json_response("Scheduled.", ref("Deletion"))},
                merge(auth, {404: ["account_not_found"]}),
            ),
            "get": operation(
                "getAccountDeletion",
                "Where my account deletion stands",
                "The open deletion request, if any.",
                "privacy",
                {200: json_response("The state.", ref("Deletion"))},
                auth,
            ),
            "delete": operation(
                "cancelAccountDeletion",
                "Cancel my account deletion",
                "During the grace period.",
                "privacy",
                {200: json_response("Cancelled.", ref("Deletion"))},
                merge(auth, {404: ["no_deletion_request"]}),
            ),
        },
        "/me/requests": {
            "post": operation(
                "fileDataRequest",
                "Make a request about my data",
                "A data-subject request about the caller's own account under the GDPR (access, rectification, "
                "erasure, restriction, portability, objection, withdraw_consent), the CCPA (know, delete, correct, "
                "limit; two per 12 months) or PIPEDA (access, correction). Due in 30 days (45 under the CCPA). A "
                "restriction or a withdrawal of consent takes effect at once; the others are answered by NumeraLoop.",
                "privacy",
                {201: json_response("Recorded.", obj({"request": ref("DataRequest")}))},
                merge(
                    auth,
                    JSON_BODY_ERRORS,
                    {
                        404: ["account_not_found"],
                        422: ["missing_field", "invalid_field", "invalid_law", "invalid_kind"],
                        429: ["request_limit_reached"],
                    },
                ),
                request_body=json_body(
                    obj(
                        {
                            "law": {"type": "string", "enum": ["gdpr", "ccpa", "pipeda"]},
                            "kind": {"type": "string", "enum": list(requests_api.ALL_KINDS)},
                            "description": {"type": "string", "maxLength": requests_api.MAX_DESCRIPTION},
                        },
                        ["law", "kind"],
                        closed=False,
                    )
                ),
            ),
            "get": operation(
                "listDataRequests",
                "My requests",
                "Every request about the caller's data, newest first: data-subject requests, exports, deletions.",
                "privacy",
                {
                    200: json_response(
                        "The requests.", obj({"requests": {"type": "array", "items": ref("DataRequest")}})
                    )
                },
                auth,
            ),
        },
        "/me/restriction": {
            "get": operation(
                "getRestriction",
                "Whether processing of my account is restricted",
                "While it is, nothing is sent, called or launched on the account's behalf.",
                "privacy",
                {200: json_response("The state.", ref("Restriction"))},
                auth,
            ),
            "post": operation(
                "restrictProcessing",
                "Restrict processing of my account",
                "At once: the account's sends and calls, and in the workspaces it owns every send, call, campaign "
                "launch and automated reply, are refused (423 processing_restricted); campaigns sending there are "
                "paused; inbound texts and calls are still stored. Recorded as a GDPR restriction request. 200 when "
                "it was already restricted.",
                "privacy",
                {
                    201: json_response("Restricted.", ref("Restriction")),
                    200: json_response("It was already restricted.", ref("Restriction")),
                },
                merge(auth, {404: ["account_not_found"]}),
            ),
            "delete": operation(
                "liftRestriction",
                "Lift the restriction",
                "Audited. Paused campaigns stay paused until an admin resumes them.",
                "privacy",
                {200: json_response("Lifted.", ref("Restriction"))},
                merge(auth, {404: ["not_restricted"]}),
            ),
        },
        "/me/consent": {
            "get": operation(
                "getConsent",
                "My consent to product e-mails",
                "The latest recorded decision; with none, no consent.",
                "privacy",
                {200: json_response("The state.", ref("Consent"))},
                auth,
            ),
            "put": operation(
                "setConsent",
                "Give or withdraw consent to product e-mails",
                "Recorded with the time and source `api`; false withdraws it, in this one call.",
                "privacy",
                {200: json_response("Recorded.", ref("Consent"))},
                merge(auth, JSON_BODY_ERRORS, {404: ["account_not_found"], 422: ["invalid_field"]}),
                request_body=json_body(obj({"product_emails": BOOL}, ["product_emails"], closed=False)),
            ),
        },
        "/me/age-confirmation": {
            "post": operation(
                "confirmAdultAge",
                "Confirm I am 18 or older",
                "Records the confirmation (the time is the server's; confirming again keeps the first). Until "
                "then every route outside /me answers 403 age_confirmation_required.",
                "account",
                {200: json_response("Confirmed.", obj({"age_confirmed_at": TIME}))},
                merge(auth, {404: ["account_not_found"]}),
            )
        },
    }


def _adults_only(paths: dict) -> dict:
    """Every operation outside /me can answer 403 age_confirmation_required (privacy/age.py)."""
    for template, item in paths.items():
        if template == DESCRIPTION_PATH or age.is_account_level(template):
            continue
        for op in item.values():
            known = op["responses"].get("403")
            codes = _error_codes(known) if known else []
            op["responses"]["403"] = error_response(403, [*codes, AGE_CONFIRMATION_REQUIRED])
            op["responses"] = dict(sorted(op["responses"].items()))
    return paths


def _error_codes(response: dict) -> list[str]:
    code = response["content"][JSON]["schema"]["properties"]["error"]["properties"]["code"]
    if "anyOf" in code:
        return [*code["anyOf"][0]["enum"], TWILIO_CODE]
    return list(code["enum"])


@functools.cache
def _document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NumeraLoop API",
            "version": __version__,
            "summary": "What integrations, scripts and the web application call.",
            "description": (
                "Every call but this description carries `Authorization: Bearer <Supabase access token>` and runs "
                "as that user under row-level security. Calls about a workspace take `workspace_id` (JSON body, "
                "query string or `X-Workspace-Id`; optional when the user belongs to exactly one). Errors are "
                '`{"error": {"code", "message", ...}}`; each operation lists its statuses and the codes each '
                "can carry. Reads and workspace-side settings go through PostgREST under the same policies."
            ),
        },
        "servers": [{"url": PREFIX, "description": "This server."}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": t}
            for t in (
                "account",
                "workspaces",
                "twilio",
                "numbers",
                "messaging",
                "contacts",
                "voice",
                "campaigns",
                "billing",
                "privacy",
                "meta",
            )
        ],
        "paths": _adults_only(_paths()),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Supabase access token of a signed-in user.",
                }
            },
            "headers": {
                "X-Request-Id": {
                    "description": "The request's id in the service's logs (a safe incoming X-Request-Id is kept).",
                    "schema": STRING,
                }
            },
            "parameters": {
                "workspace_id": {
                    "name": "workspace_id",
                    "in": "query",
                    "required": False,
                    "schema": UUID,
                    "description": "The workspace; optional when the caller belongs to exactly one.",
                },
                "X-Workspace-Id": {
                    "name": "X-Workspace-Id",
                    "in": "header",
                    "required": False,
                    "schema": UUID,
                    "description": "The workspace, as a header.",
                },
                "campaign_id": {"name": "campaign_id", "in": "path", "required": True, "schema": UUID},
                "number_id": {"name": "number_id", "in": "path", "required": True, "schema": UUID},
                "workspace_path_id": {"name": "workspace_id", "in": "path", "required": True, "schema": UUID},
                "invitation_id": {"name": "invitation_id", "in": "path", "required": True, "schema": UUID},
            },
            "schemas": SCHEMAS,
        },
    }


def document() -> dict:
    """The description (a fresh copy: callers may not change the served one)."""
    return copy.deepcopy(_document())
