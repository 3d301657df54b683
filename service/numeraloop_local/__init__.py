"""The local stand-ins NumeraLoop runs against on a laptop and in tests, never in production.

    twilio_sandbox   a stateful local Twilio (REST subset, status callbacks, inbound traffic)
    stripe_standin   a local Stripe (customers, Checkout, Billing Portal, signed events)
    supabase_auth    a local Supabase Auth (GoTrue's API over the database's auth schema)
    smtp_catcher     receives the mail the product sends, and shows it
    dev, demo_seed   `numeraloop dev`: every local process, and the demo workspace
    http_server      the threaded WSGI server and control-API error shape they all share

The product package (`numeraloop`) imports nothing from here; this package adds its
commands to `numeraloop` through the `numeraloop.commands` entry point when installed.
"""
