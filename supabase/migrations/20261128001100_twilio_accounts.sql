-- A workspace's connected Twilio account. Secrets live only as ciphertext in
-- private.twilio_credentials; the key is the service's (NUMERALOOP_ENCRYPTION_KEY) and is
-- passed in per call, never stored in the database or a migration.

create table public.twilio_accounts (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null unique references public.workspaces (id) on delete cascade,
  account_sid text not null check (account_sid ~ '^AC[0-9a-f]{32}$'),
  friendly_name text,
  account_status text,
  api_key_sid text check (api_key_sid ~ '^SK[0-9a-f]{32}$'),
  twiml_app_sid text check (twiml_app_sid ~ '^AP[0-9a-f]{32}$'),
  connected_by uuid references auth.users (id) on delete set null,
  connected_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- One Twilio account serves one workspace: connecting it to several would multiply the free
  -- allowances, and its webhooks could only find one of them. Also what webhooks look accounts up by.
  constraint twilio_accounts_account_sid_key unique (account_sid)
);
comment on table public.twilio_accounts is
  'The Twilio account a workspace connected, at most one per workspace and one workspace per account. '
  'No secrets here: members may read every column.';

create trigger tg_twilio_accounts__updated_at before update on public.twilio_accounts
  for each row execute function private.tg_set_updated_at();

create table private.twilio_credentials (
  twilio_account_id uuid primary key references public.twilio_accounts (id) on delete cascade,
  auth_token_encrypted bytea not null,
  api_key_secret_encrypted bytea,
  key_version integer not null check (key_version > 0),
  updated_at timestamptz not null default now()
);
comment on table private.twilio_credentials is
  'Twilio auth token and API key secret, encrypted with pgp_sym_encrypt (AES-256) under the '
  'service''s key. key_version says which key; rotation re-encrypts row by row.';
revoke all on private.twilio_credentials from public, anon, authenticated, service_role;

alter table public.twilio_accounts enable row level security;
create policy twilio_accounts_select_member on public.twilio_accounts for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

revoke all on public.twilio_accounts from anon, authenticated, service_role;
grant select on public.twilio_accounts to authenticated;
grant select, insert, update, delete on public.twilio_accounts to service_role;

-- ---------------------------------------------------------------------------------------
-- Encryption. AES-256 with compression off (compression before encryption leaks length
-- information about the plaintext). The keyring is {"<version>": "<key>"}, so during a
-- rotation the service can read rows under either key.

create function private.encrypt_secret(plaintext text, secret_key text)
returns bytea
language plpgsql volatile
set search_path = ''
as $$
begin
  if secret_key is null or length(secret_key) < 16 then
    raise exception 'encryption key missing or too short (at least 16 characters)' using errcode = '22023';
  end if;
  return extensions.pgp_sym_encrypt(plaintext, secret_key, 'cipher-algo=aes256, compress-algo=0, s2k-mode=3');
end
$$;

create function private.decrypt_secret(ciphertext bytea, keyring jsonb, key_version integer)
returns text
language plpgsql stable
set search_path = ''
as $$
declare
  secret_key text := keyring ->> key_version::text;
begin
  if ciphertext is null then
    return null;
  end if;
  if secret_key is null then
    raise exception 'no encryption key configured for key version %', key_version
      using errcode = '28000', hint = 'Set NUMERALOOP_ENCRYPTION_KEY (and its version) to the key these credentials were stored under.';
  end if;
  begin
    return extensions.pgp_sym_decrypt(ciphertext, secret_key);
  exception when others then
    -- pgcrypto's own message is generic already; replace it so nothing about the data leaks.
    raise exception 'stored Twilio credentials cannot be decrypted with the configured key (key version %)', key_version
      using errcode = '28000', hint = 'The encryption key does not match the one the credentials were stored under.';
  end;
end
$$;

create function private.store_twilio_account(
  p_workspace_id uuid, p_account_sid text, p_auth_token text,
  p_api_key_sid text, p_api_key_secret text, p_twiml_app_sid text,
  p_friendly_name text, p_account_status text, p_actor uuid,
  p_secret_key text, p_key_version integer)
returns public.twilio_accounts
language plpgsql security definer
set search_path = ''
as $$
declare
  acct public.twilio_accounts;
  v_current_sid text;
  v_numbers text;
begin
  -- Connecting again replaces the previous account and its credentials. An account already
  -- connected to another workspace is refused here with the constraint's own name (the unique
  -- constraint settles a race), never saying which workspace has it.
  if exists (select 1 from public.twilio_accounts a
              where a.account_sid = p_account_sid and a.workspace_id <> p_workspace_id) then
    raise exception 'this Twilio account is connected to another workspace'
      using errcode = '23505', constraint = 'twilio_accounts_account_sid_key';
  end if;
  -- Another account only while no number still lives in the current one: Twilio signs a
  -- number's webhooks with its own account's token, so after the switch they would all be
  -- refused and its inbound traffic lost. Locking the row holds off numbers being added
  -- meanwhile (their foreign key check waits for it).
  select a.account_sid into v_current_sid from public.twilio_accounts a
   where a.workspace_id = p_workspace_id for update;
  if v_current_sid is distinct from p_account_sid then
    select string_agg(n.e164, ', ' order by n.e164) into v_numbers from public.phone_numbers n
     where n.workspace_id = p_workspace_id and n.status in ('active', 'releasing');
    if v_numbers is not null then
      raise exception 'the workspace''s numbers % are in the connected Twilio account; release or detach them first',
                      v_numbers
        using errcode = '55000';
    end if;
  end if;
  insert into public.twilio_accounts as t (workspace_id, account_sid, friendly_name, account_status,
                                           api_key_sid, twiml_app_sid, connected_by, connected_at)
  values (p_workspace_id, p_account_sid, p_friendly_name, p_account_status,
          p_api_key_sid, p_twiml_app_sid, p_actor, now())
  on conflict (workspace_id) do update
     set account_sid = excluded.account_sid, friendly_name = excluded.friendly_name,
         account_status = excluded.account_status, api_key_sid = excluded.api_key_sid,
         twiml_app_sid = excluded.twiml_app_sid, connected_by = excluded.connected_by,
         connected_at = now()
  returning * into acct;

  insert into private.twilio_credentials (twilio_account_id, auth_token_encrypted, api_key_secret_encrypted, key_version)
  values (acct.id, private.encrypt_secret(p_auth_token, p_secret_key),
          case when p_api_key_secret is null then null else private.encrypt_secret(p_api_key_secret, p_secret_key) end,
          p_key_version)
  on conflict (twilio_account_id) do update
     set auth_token_encrypted = excluded.auth_token_encrypted,
         api_key_secret_encrypted = excluded.api_key_secret_encrypted,
         key_version = excluded.key_version, updated_at = now();
  return acct;
end
$$;

create function private.twilio_credentials_for_workspace(p_workspace_id uuid, p_keyring jsonb)
returns table (twilio_account_id uuid, account_sid text, auth_token text, api_key_sid text,
               api_key_secret text, twiml_app_sid text)
language sql stable security definer
set search_path = ''
as $$
  select a.id, a.account_sid,
         private.decrypt_secret(c.auth_token_encrypted, p_keyring, c.key_version),
         a.api_key_sid,
         private.decrypt_secret(c.api_key_secret_encrypted, p_keyring, c.key_version),
         a.twiml_app_sid
  from public.twilio_accounts a
  join private.twilio_credentials c on c.twilio_account_id = a.id
  where a.workspace_id = p_workspace_id
$$;

create function private.reencrypt_twilio_credentials(p_old_keyring jsonb, p_new_key text, p_new_version integer,
                                                     p_batch integer default 100)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer := 0;
  r record;
begin
  -- Rows already under the new version are skipped, so an interrupted rotation resumes
  -- where it stopped. Each row is rewritten in one UPDATE: never half-rotated.
  for r in
    select c.twilio_account_id, c.auth_token_encrypted, c.api_key_secret_encrypted, c.key_version
      from private.twilio_credentials c
     where c.key_version <> p_new_version
     order by c.twilio_account_id
     limit p_batch
     for update skip locked
  loop
    update private.twilio_credentials
       set auth_token_encrypted = private.encrypt_secret(
             private.decrypt_secret(r.auth_token_encrypted, p_old_keyring, r.key_version), p_new_key),
           api_key_secret_encrypted = case when r.api_key_secret_encrypted is null then null else
             private.encrypt_secret(private.decrypt_secret(r.api_key_secret_encrypted, p_old_keyring, r.key_version), p_new_key) end,
           key_version = p_new_version,
           updated_at = now()
     where twilio_account_id = r.twilio_account_id;
    n := n + 1;
  end loop;
  -- The auth tokens kept for a deleted workspace's pending Twilio deletions (provider_cleanup migration).
  for r in
    select k.account_sid, k.auth_token_encrypted, k.key_version
      from private.provider_cleanup_credentials k
     where k.key_version <> p_new_version
     order by k.account_sid
     limit greatest(p_batch - n, 0)
     for update skip locked
  loop
    update private.provider_cleanup_credentials
       set auth_token_encrypted = private.encrypt_secret(
             private.decrypt_secret(r.auth_token_encrypted, p_old_keyring, r.key_version), p_new_key),
           key_version = p_new_version
     where account_sid = r.account_sid;
    n := n + 1;
  end loop;
  return n;
end
$$;

create function private.twilio_credentials_key_versions()
returns table (key_version integer, rows bigint)
language sql stable security definer
set search_path = ''
as $$
  select key_version, count(*) from private.twilio_credentials group by key_version order by key_version
$$;

revoke all on function private.encrypt_secret(text, text), private.decrypt_secret(bytea, jsonb, integer),
  private.store_twilio_account(uuid, text, text, text, text, text, text, text, uuid, text, integer),
  private.twilio_credentials_for_workspace(uuid, jsonb),
  private.reencrypt_twilio_credentials(jsonb, text, integer, integer),
  private.twilio_credentials_key_versions()
  from public, anon, authenticated;
grant execute on function
  private.store_twilio_account(uuid, text, text, text, text, text, text, text, uuid, text, integer),
  private.twilio_credentials_for_workspace(uuid, jsonb),
  private.reencrypt_twilio_credentials(jsonb, text, integer, integer),
  private.twilio_credentials_key_versions()
  to service_role;

comment on function private.twilio_credentials_for_workspace(uuid, jsonb) is
  'Decrypts a workspace''s Twilio credentials for the one call that needs them. service_role only.';
