"""Every module that adds routes, imported once so their routes exist before the
blueprints are registered. A capability's routes live with the capability."""

from .api import me, numbers, twilio_connect  # noqa: F401
from .messaging import inbound, send, status  # noqa: F401
from .contacts import api as contacts_api  # noqa: F401
from .voice import browser, inbound as voice_inbound, status as voice_status, token, whisper  # noqa: F401
from .privacy import deletion, export  # noqa: F401
from .campaigns import api as campaigns_api  # noqa: F401
from .billing import api as billing_api, webhook as stripe_webhook  # noqa: F401
