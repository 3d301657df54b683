"""Every route of the service, registered in one place (the way Flask's flaskr tutorial does).

Each capability owns a blueprint with its routes; this file says which caller's surface it
hangs under: /api/v1 (a signed-in user's token), /twilio (Twilio's signature), /stripe
(Stripe's signature), the web application (a session cookie and CSRF token), or the root
(health).
"""

from __future__ import annotations

from flask import Flask

from . import api, health, web
from .account import api as account_api
from .api import openapi as api_description
from .billing import api as billing_api
from .billing import webhook as billing_webhook
from .campaigns import api as campaigns_api
from .campaigns import estimate as campaigns_estimate
from .campaigns import scheduled as campaigns_scheduled
from .contacts import api as contacts_api
from .invitations import api as invitations_api
from .messaging import inbound as messaging_inbound
from .messaging import send as messaging_send
from .messaging import status as messaging_status
from .numbers import api as numbers_api
from .privacy import age as privacy_age
from .privacy import consent as privacy_consent
from .privacy import deletion as privacy_deletion
from .privacy import export as privacy_export
from .privacy import requests as privacy_requests
from .privacy import restriction as privacy_restriction
from .stripe import webhooks as stripe_webhooks
from .twilio import webhooks as twilio_webhooks
from .twilio_connection import api as twilio_connection_api
from .voice import browser as voice_browser
from .voice import inbound as voice_inbound
from .voice import status as voice_status
from .voice import token as voice_token
from .voice import whisper as voice_whisper
from .web import assets as web_assets
from .web import contacts as web_contacts
from .web import inbox as web_inbox
from .web import inbox_actions as web_inbox_actions
from .web import onboarding as web_onboarding
from .web import settings as web_settings
from .web import signin as web_signin
from .web import webhooks_settings as web_webhooks_settings

API_ROUTES = (
    account_api.bp,
    invitations_api.bp,
    twilio_connection_api.bp,
    numbers_api.bp,
    messaging_send.bp,
    contacts_api.bp,
    voice_token.bp,
    campaigns_api.bp,
    campaigns_estimate.bp,
    campaigns_scheduled.bp,
    billing_api.bp,
    privacy_export.bp,
    privacy_deletion.bp,
    privacy_age.bp,
    privacy_requests.bp,
    privacy_restriction.bp,
    privacy_consent.bp,
)

TWILIO_ROUTES = (
    messaging_inbound.bp,
    messaging_status.bp,
    voice_inbound.bp,
    voice_whisper.bp,
    voice_browser.bp,
    voice_status.bp,
)

STRIPE_ROUTES = (billing_webhook.bp,)

# The web application's areas, each a blueprint with its pages.
WEB_ROUTES = (
    web_assets.bp,
    web_signin.bp,
    web_onboarding.bp,
    web_inbox.bp,
    web_inbox_actions.bp,
    web_contacts.bp,
    web_settings.bp,
    web_webhooks_settings.bp,
)


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(api.surface(API_ROUTES))
    app.register_blueprint(api_description.bp)  # GET /api/v1/openapi.json, public: outside the surface's auth
    app.register_blueprint(twilio_webhooks.surface(TWILIO_ROUTES))
    app.register_blueprint(stripe_webhooks.surface(STRIPE_ROUTES))
    app.register_blueprint(web.surface(WEB_ROUTES))
