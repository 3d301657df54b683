"""Your data: a user's export of everything they can see, and the deletion of their account.

The rules live in SQL (supabase/migrations/20261128008000_data_requests.sql); these routes
run them as the caller and shape the answer: export.py (GET /api/v1/me/export) and
deletion.py (POST/GET/DELETE /api/v1/me/deletion). provider_cleanup.py is the worker's loop
that deletes at Twilio and Stripe what a deletion or a purge queued
(supabase/migrations/20261128009800_provider_cleanup.sql); cli.py is `numeraloop privacy ...`.
"""
