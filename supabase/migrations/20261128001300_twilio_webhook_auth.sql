-- What the service needs to check a Twilio webhook's signature: the auth token of the
-- account that owns the number (inbound) or sent the message (callbacks). service_role only.

create function private.webhook_credentials_for_number(p_e164 text, p_keyring jsonb)
returns table (workspace_id uuid, phone_number_id uuid, account_sid text, auth_token text)
language sql stable security definer
set search_path = ''
as $$
  select p.workspace_id, p.id, a.account_sid,
         private.decrypt_secret(c.auth_token_encrypted, p_keyring, c.key_version)
  from public.phone_numbers p
  join public.twilio_accounts a on a.workspace_id = p.workspace_id
  join private.twilio_credentials c on c.twilio_account_id = a.id
  where p.e164 = p_e164 and p.status = 'active'
$$;

create function private.webhook_credentials_for_account(p_account_sid text, p_keyring jsonb)
returns table (workspace_id uuid, account_sid text, auth_token text)
language sql stable security definer
set search_path = ''
as $$
  select a.workspace_id, a.account_sid,
         private.decrypt_secret(c.auth_token_encrypted, p_keyring, c.key_version)
  from public.twilio_accounts a
  join private.twilio_credentials c on c.twilio_account_id = a.id
  where a.account_sid = p_account_sid
$$;

revoke all on function private.webhook_credentials_for_number(text, jsonb),
  private.webhook_credentials_for_account(text, jsonb) from public, anon, authenticated;
grant execute on function private.webhook_credentials_for_number(text, jsonb),
  private.webhook_credentials_for_account(text, jsonb) to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
