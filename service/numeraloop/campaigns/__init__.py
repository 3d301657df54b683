"""Bulk SMS campaigns: the sender the worker runs (sender.py) and the admin/report API (api.py).

Drafts are rows of public.campaigns written through PostgREST; audience snapshot, claiming,
pacing and the report are SQL functions (supabase/migrations/20261128009500_campaigns.sql).
"""
