"""Workspace membership by invitation: an admin invites an e-mail address, its owner accepts
with the token (api.py). The rules are SQL functions
(supabase/migrations/20261128001050_workspace_invitations.sql).
"""
