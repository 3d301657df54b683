"""Everything NumeraLoop knows about talking to Stripe, in one package.

client      stripe-python pointed at STRIPE_API_BASE_URL, and Stripe errors as API errors
signature   Stripe-Signature checking of webhook events, on the raw body
webhooks    the /stripe blueprint that billing's webhook route hangs under
"""
