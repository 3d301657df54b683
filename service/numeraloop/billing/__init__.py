"""Billing through Stripe subscriptions: the webhook that keeps the billing tables in step
with Stripe (webhook.py), the web client's checkout/portal/billing calls (api.py), and the
service's Stripe client (stripe_client.py)."""
