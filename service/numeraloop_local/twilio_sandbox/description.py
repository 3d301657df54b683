"""What the sandbox serves of Twilio's 2010-04-01 REST API, written down as data.

For each operation: the parameters it accepts (type, enum, pattern, length, range,
format, required) and what it answers with; for each resource: the fields it returns, in
the order Twilio returns them. `validation` checks requests and shapes responses from
this alone, so the sandbox runs from a bare clone.

The facts are Twilio's. tests/sandbox/test_twilio_contract.py holds this file against
Twilio's published OpenAPI description whenever that is present, so a parameter or
field that drifts from what Twilio accepts and returns fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

API = "/2010-04-01"
ACCOUNT = f"{API}/Accounts/{{AccountSid}}"

# Formats the sandbox knows. Only uri, http-method and date-time are checked here: a
# phone-number is checked by the handler that takes it (a list filter takes partial numbers,
# Messages.To answers 21211), and an unsupported country is the handler's 404.
FORMATS = {"uri", "http-method", "phone-number", "date-time", "iso-country-code"}


@dataclass(frozen=True)
class Param:
    type: str = "string"  # string | integer | number | boolean
    required: bool = False
    many: bool = False  # repeated, as in MediaUrl=a&MediaUrl=b
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    format: str | None = None  # one of FORMATS

    def __post_init__(self):
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}")


TEXT = Param()
FLAG = Param(type="boolean")
INTEGER = Param(type="integer")
NUMBER = Param(type="number")
URL = Param(format="uri")
METHOD = Param(format="http-method", enum=("GET", "POST"))
PHONE = Param(format="phone-number")
DATE_TIME = Param(format="date-time")
COUNTRY = Param(format="iso-country-code", required=True)


def sid(*prefixes: str, required: bool = False) -> Param:
    """A Twilio SID: a two-letter prefix and 32 hex digits."""
    prefix = prefixes[0] if len(prefixes) == 1 else f"({'|'.join(prefixes)})"
    return Param(pattern=f"^{prefix}[0-9a-fA-F]{{32}}$", min_length=34, max_length=34, required=required)


def choice(*values: str) -> Param:
    return Param(enum=values)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # Twilio's path template
    path_params: dict[str, Param]
    params: dict[str, Param]  # the query string of a GET, the form body of a POST
    status: int  # the success status
    returns: str | None = None  # a RESOURCES name; None for an empty body
    listed_as: str | None = None  # when set, a page of `returns` under this key


PAGING = {
    "PageSize": Param(type="integer", minimum=1, maximum=1000),
    "Page": Param(type="integer", minimum=0),
    "PageToken": TEXT,
}

# What a number's create and update both take.
NUMBER_SETTINGS = {
    "ApiVersion": TEXT,
    "FriendlyName": TEXT,
    "SmsApplicationSid": sid("AP"),
    "SmsFallbackMethod": METHOD,
    "SmsFallbackUrl": URL,
    "SmsMethod": METHOD,
    "SmsUrl": URL,
    "StatusCallback": URL,
    "StatusCallbackMethod": METHOD,
    "VoiceApplicationSid": sid("AP"),
    "VoiceCallerIdLookup": FLAG,
    "VoiceFallbackMethod": METHOD,
    "VoiceFallbackUrl": URL,
    "VoiceMethod": METHOD,
    "VoiceUrl": URL,
    "EmergencyStatus": choice("Active", "Inactive"),
    "EmergencyAddressSid": sid("AD"),
    "TrunkSid": sid("TK"),
    "IdentitySid": sid("RI"),
    "AddressSid": sid("AD"),
    "VoiceReceiveMode": choice("voice", "fax"),
    "BundleSid": sid("BU"),
}

# The search filters of AvailablePhoneNumbers Local and TollFree. The sandbox acts on
# AreaCode, Contains and PageSize and accepts the rest as a real search would.
NUMBER_SEARCH = {
    "AreaCode": INTEGER,
    "Contains": TEXT,
    "SmsEnabled": FLAG,
    "MmsEnabled": FLAG,
    "VoiceEnabled": FLAG,
    "ExcludeAllAddressRequired": FLAG,
    "ExcludeLocalAddressRequired": FLAG,
    "ExcludeForeignAddressRequired": FLAG,
    "Beta": FLAG,
    "NearNumber": PHONE,
    "NearLatLong": TEXT,
    "Distance": INTEGER,
    "InPostalCode": TEXT,
    "InRegion": TEXT,
    "InRateCenter": TEXT,
    "InLata": TEXT,
    "InLocality": TEXT,
    "FaxEnabled": FLAG,
    **PAGING,
}

MESSAGE_CREATE = {
    "To": replace(PHONE, required=True),
    "StatusCallback": URL,
    "ApplicationSid": sid("AP"),
    "MaxPrice": NUMBER,
    "ProvideFeedback": FLAG,
    "Attempt": INTEGER,
    "ValidityPeriod": INTEGER,
    "ForceDelivery": FLAG,
    "ContentRetention": choice("retain", "discard"),
    "AddressRetention": choice("retain", "obfuscate"),
    "SmartEncoded": FLAG,
    "PersistentAction": Param(many=True),
    "TrafficType": choice("free"),
    "ShortenUrls": FLAG,
    "ScheduleType": choice("fixed"),
    "SendAt": DATE_TIME,
    "SendAsMms": FLAG,
    "ContentVariables": TEXT,
    "RiskCheck": choice("enable", "disable"),
    "From": PHONE,
    "FallbackFrom": PHONE,
    "MessagingServiceSid": sid("MG"),
    "Body": TEXT,
    # Twilio leaves a media URL's format unchecked at the parameter; a bad one fails at delivery.
    "MediaUrl": Param(many=True),
    "ContentSid": sid("HX"),
}

# The Messages list's filters: To and From exact, DateSent on a day (a date) or on or before (<) /
# on or after (>) a time; the most recent first. A message not yet sent has no DateSent.
MESSAGE_LIST = {
    "To": PHONE,
    "From": PHONE,
    "DateSent": DATE_TIME,
    "DateSent<": DATE_TIME,
    "DateSent>": DATE_TIME,
    **PAGING,
}

APPLICATION_CREATE = {
    "ApiVersion": TEXT,
    "VoiceUrl": URL,
    "VoiceMethod": METHOD,
    "VoiceFallbackUrl": URL,
    "VoiceFallbackMethod": METHOD,
    "StatusCallback": URL,
    "StatusCallbackMethod": METHOD,
    "VoiceCallerIdLookup": FLAG,
    "SmsUrl": URL,
    "SmsMethod": METHOD,
    "SmsFallbackUrl": URL,
    "SmsFallbackMethod": METHOD,
    "SmsStatusCallback": URL,
    "MessageStatusCallback": URL,
    "FriendlyName": TEXT,
    "PublicApplicationConnectEnabled": FLAG,
}

IN_ACCOUNT = {"AccountSid": sid("AC", required=True)}
NUMBERS = f"{ACCOUNT}/IncomingPhoneNumbers.json"
NUMBER = f"{ACCOUNT}/IncomingPhoneNumbers/{{Sid}}.json"
NUMBER_PATH = {**IN_ACCOUNT, "Sid": sid("PN", required=True)}
SEARCH_PATH = {**IN_ACCOUNT, "CountryCode": COUNTRY}
RECORDING = f"{ACCOUNT}/Recordings/{{Sid}}.json"
RECORDING_PATH = {**IN_ACCOUNT, "Sid": sid("RE", required=True)}


# Messaging Services (the Messaging API, v1): what a service is created and updated with.
SERVICE_SETTINGS = {
    "InboundRequestUrl": URL,
    "InboundMethod": METHOD,
    "FallbackUrl": URL,
    "FallbackMethod": METHOD,
    "StatusCallback": URL,
    "StickySender": FLAG,
    "MmsConverter": FLAG,
    "SmartEncoding": FLAG,
    "ScanMessageContent": choice("inherit", "enable", "disable"),
    "FallbackToLongCode": FLAG,
    "AreaCodeGeomatch": FLAG,
    "ValidityPeriod": INTEGER,
    "SynchronousValidation": FLAG,
    "Usecase": TEXT,
    "UseInboundWebhookOnNumber": FLAG,
}
V1_SERVICE = "/v1/Services/{Sid}"
V1_POOL = "/v1/Services/{ServiceSid}/PhoneNumbers"
IN_SERVICE = {"ServiceSid": sid("MG", required=True)}


def _operations(*ops: Operation) -> dict[tuple[str, str], Operation]:
    return {(op.method, op.path): op for op in ops}


OPERATIONS = _operations(
    Operation("GET", f"{API}/Accounts/{{Sid}}.json", {"Sid": sid("AC", required=True)}, {}, 200, "account"),
    Operation(
        "GET",
        NUMBERS,
        IN_ACCOUNT,
        {"Beta": FLAG, "FriendlyName": TEXT, "PhoneNumber": PHONE, "Origin": TEXT, **PAGING},
        200,
        "incoming_phone_number",
        listed_as="incoming_phone_numbers",
    ),
    Operation(
        "POST",
        NUMBERS,
        IN_ACCOUNT,
        {**NUMBER_SETTINGS, "PhoneNumber": PHONE, "AreaCode": TEXT},
        201,
        "incoming_phone_number",
    ),
    Operation("GET", NUMBER, NUMBER_PATH, {}, 200, "incoming_phone_number"),
    Operation("POST", NUMBER, NUMBER_PATH, {"AccountSid": sid("AC"), **NUMBER_SETTINGS}, 200, "incoming_phone_number"),
    Operation("DELETE", NUMBER, NUMBER_PATH, {}, 204),
    Operation(
        "GET",
        f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/Local.json",
        SEARCH_PATH,
        NUMBER_SEARCH,
        200,
        "available_phone_number_local",
        listed_as="available_phone_numbers",
    ),
    Operation(
        "GET",
        f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/TollFree.json",
        SEARCH_PATH,
        NUMBER_SEARCH,
        200,
        "available_phone_number_toll_free",
        listed_as="available_phone_numbers",
    ),
    Operation("POST", f"{ACCOUNT}/Messages.json", IN_ACCOUNT, MESSAGE_CREATE, 201, "message"),
    Operation("GET", f"{ACCOUNT}/Messages.json", IN_ACCOUNT, MESSAGE_LIST, 200, "message", listed_as="messages"),
    Operation(
        "GET",
        f"{ACCOUNT}/Messages/{{Sid}}.json",
        {**IN_ACCOUNT, "Sid": sid("SM", "MM", required=True)},
        {},
        200,
        "message",
    ),
    Operation("GET", f"{ACCOUNT}/Calls/{{Sid}}.json", {**IN_ACCOUNT, "Sid": sid("CA", required=True)}, {}, 200, "call"),
    Operation("GET", RECORDING, RECORDING_PATH, {"IncludeSoftDeleted": FLAG}, 200, "recording"),
    Operation("DELETE", RECORDING, RECORDING_PATH, {}, 204),
    Operation("POST", f"{ACCOUNT}/Applications.json", IN_ACCOUNT, APPLICATION_CREATE, 201, "application"),
    Operation("POST", f"{ACCOUNT}/Keys.json", IN_ACCOUNT, {"FriendlyName": TEXT}, 201, "new_key"),
    Operation(
        "POST", "/v1/Services", {}, {"FriendlyName": Param(required=True), **SERVICE_SETTINGS}, 201, "messaging_service"
    ),
    Operation("GET", V1_SERVICE, {"Sid": sid("MG", required=True)}, {}, 200, "messaging_service"),
    Operation(
        "POST",
        V1_SERVICE,
        {"Sid": sid("MG", required=True)},
        {"FriendlyName": TEXT, **SERVICE_SETTINGS},
        200,
        "messaging_service",
    ),
    Operation(
        "POST", V1_POOL, IN_SERVICE, {"PhoneNumberSid": sid("PN", required=True)}, 201, "messaging_service_phone_number"
    ),
    Operation("GET", V1_POOL, IN_SERVICE, PAGING, 200, "messaging_service_phone_number", listed_as="phone_numbers"),
    Operation("DELETE", V1_POOL + "/{Sid}", {**IN_SERVICE, "Sid": Param(required=True)}, {}, 204),
)

# The fields of each resource, in Twilio's order; a field the sandbox has no value for is null.
AVAILABLE_NUMBER = (
    "friendly_name",
    "phone_number",
    "lata",
    "locality",
    "rate_center",
    "latitude",
    "longitude",
    "region",
    "postal_code",
    "iso_country",
    "address_requirements",
    "beta",
    "capabilities",
)
RESOURCES: dict[str, tuple[str, ...]] = {
    "account": (
        "auth_token",
        "date_created",
        "date_updated",
        "friendly_name",
        "owner_account_sid",
        "sid",
        "status",
        "subresource_uris",
        "type",
        "uri",
    ),
    "incoming_phone_number": (
        "account_sid",
        "address_sid",
        "address_requirements",
        "api_version",
        "beta",
        "capabilities",
        "date_created",
        "date_updated",
        "friendly_name",
        "identity_sid",
        "phone_number",
        "origin",
        "sid",
        "sms_application_sid",
        "sms_fallback_method",
        "sms_fallback_url",
        "sms_method",
        "sms_url",
        "status_callback",
        "status_callback_method",
        "trunk_sid",
        "uri",
        "voice_receive_mode",
        "voice_application_sid",
        "voice_caller_id_lookup",
        "voice_fallback_method",
        "voice_fallback_url",
        "voice_method",
        "voice_url",
        "emergency_status",
        "emergency_address_sid",
        "emergency_address_status",
        "bundle_sid",
        "status",
        "type",
    ),
    "available_phone_number_local": AVAILABLE_NUMBER,
    "available_phone_number_toll_free": AVAILABLE_NUMBER,
    "message": (
        "body",
        "num_segments",
        "direction",
        "from",
        "to",
        "date_updated",
        "price",
        "error_message",
        "uri",
        "account_sid",
        "num_media",
        "status",
        "messaging_service_sid",
        "sid",
        "date_sent",
        "date_created",
        "error_code",
        "price_unit",
        "api_version",
        "subresource_uris",
    ),
    "call": (
        "sid",
        "date_created",
        "date_updated",
        "parent_call_sid",
        "account_sid",
        "to",
        "to_formatted",
        "from",
        "from_formatted",
        "phone_number_sid",
        "status",
        "start_time",
        "end_time",
        "duration",
        "price",
        "price_unit",
        "direction",
        "answered_by",
        "api_version",
        "forwarded_from",
        "group_sid",
        "caller_name",
        "queue_time",
        "trunk_sid",
        "uri",
        "subresource_uris",
    ),
    "recording": (
        "account_sid",
        "api_version",
        "call_sid",
        "conference_sid",
        "date_created",
        "date_updated",
        "start_time",
        "duration",
        "sid",
        "price",
        "price_unit",
        "status",
        "channels",
        "source",
        "error_code",
        "uri",
        "encryption_details",
        "subresource_uris",
        "media_url",
    ),
    "application": (
        "account_sid",
        "api_version",
        "date_created",
        "date_updated",
        "friendly_name",
        "message_status_callback",
        "sid",
        "sms_fallback_method",
        "sms_fallback_url",
        "sms_method",
        "sms_status_callback",
        "sms_url",
        "status_callback",
        "status_callback_method",
        "uri",
        "voice_caller_id_lookup",
        "voice_fallback_method",
        "voice_fallback_url",
        "voice_method",
        "voice_url",
        "public_application_connect_enabled",
    ),
    "messaging_service": (
        "sid",
        "account_sid",
        "friendly_name",
        "date_created",
        "date_updated",
        "inbound_request_url",
        "inbound_method",
        "fallback_url",
        "fallback_method",
        "status_callback",
        "sticky_sender",
        "mms_converter",
        "smart_encoding",
        "scan_message_content",
        "fallback_to_long_code",
        "area_code_geomatch",
        "synchronous_validation",
        "validity_period",
        "url",
        "links",
        "usecase",
        "us_app_to_person_registered",
        "use_inbound_webhook_on_number",
    ),
    "messaging_service_phone_number": (
        "sid",
        "account_sid",
        "service_sid",
        "date_created",
        "date_updated",
        "phone_number",
        "country_code",
        "capabilities",
        "url",
    ),
    # Answered once, when the key is created: the only resource that carries the secret.
    "new_key": ("sid", "friendly_name", "date_created", "date_updated", "secret"),
}

# The paging envelope around a list, before the list itself (keyed by the operation's listed_as);
# the v1 APIs put the list first and the paging under "meta".
PAGE = ("end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri")
V1_PAGE_META = ("first_page_url", "key", "next_page_url", "page", "page_size", "previous_page_url", "url")


def operation(method: str, path: str) -> Operation:
    return OPERATIONS[(method.upper(), path)]
