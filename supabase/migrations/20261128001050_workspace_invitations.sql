-- Joining a workspace: an admin invites an e-mail address as agent or admin, and the person
-- whose verified e-mail it is accepts with the invitation's token. Accepting is the only way a
-- user becomes a member of a workspace they did not create (clients have no INSERT on
-- public.workspace_members).
--
-- The token is returned once, by invite_to_workspace(); only its SHA-256 is stored, so a
-- leaked table (or a backup) holds nothing that accepts an invitation. An invitation expires
-- 7 days after it is made, is used once, and can be revoked until it is accepted.
--
-- Errors, as SQLSTATE and DETAIL {"code": ...} for the service to answer with:
--   P0002  invitation_not_found / workspace_not_found
--   42501  forbidden (not an admin), role_not_invitable (owner), email_not_verified, invitation_email_mismatch
--   22023  invalid_email, invalid_role
--   P0409  already_member, invitation_already_accepted   (our own: "conflict")
--   P0410  invitation_expired, invitation_revoked          (our own: "gone")

create table public.workspace_invitations (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  email text not null check (email = lower(email) and char_length(email) <= 320
                             and email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  role public.workspace_role not null check (role in ('agent', 'admin')),
  token_hash bytea not null unique check (octet_length(token_hash) = 32),
  invited_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  accepted_at timestamptz,
  accepted_by uuid references auth.users (id) on delete set null,
  revoked_at timestamptz,
  revoked_by uuid references auth.users (id) on delete set null,
  constraint workspace_invitations_accepted_or_revoked check (accepted_at is null or revoked_at is null)
);
-- One open invitation per address and workspace: inviting again replaces it.
create unique index workspace_invitations_open_key on public.workspace_invitations (workspace_id, email)
  where accepted_at is null and revoked_at is null;
-- The invitee's policy looks invitations up by address.
create index workspace_invitations_email_idx on public.workspace_invitations (email);
comment on table public.workspace_invitations is
  'Invitations to join a workspace, by e-mail address. Admins of the workspace see them; the invitee sees '
  'those to their address. Made, accepted and revoked only through the functions below (audited).';
comment on column public.workspace_invitations.token_hash is
  'SHA-256 of the token invite_to_workspace() returned once. Never readable by clients.';

alter table public.workspace_invitations enable row level security;

-- The invitee's address is read from their own profile (which RLS lets them read, and which
-- only Supabase Auth's trigger writes), so the policy needs no helper of its own.
create policy workspace_invitations_select_admin_or_invitee on public.workspace_invitations for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin')))
         or email = (select lower(p.email) from public.profiles p where p.id = (select auth.uid())));

revoke all on public.workspace_invitations from anon, authenticated, service_role;
grant select (id, workspace_id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by,
              revoked_at, revoked_by)
  on public.workspace_invitations to authenticated;
grant select, insert, update, delete on public.workspace_invitations to service_role;

-- ---------------------------------------------------------------------------------------

create function private.invitation_view(i public.workspace_invitations) returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', i.id, 'workspace_id', i.workspace_id, 'email', i.email, 'role', i.role,
    'status', case when i.accepted_at is not null then 'accepted'
                   when i.revoked_at is not null then 'revoked'
                   when i.expires_at <= now() then 'expired'
                   else 'pending' end,
    'invited_by', i.invited_by, 'created_at', i.created_at, 'expires_at', i.expires_at,
    'accepted_at', i.accepted_at, 'accepted_by', i.accepted_by, 'revoked_at', i.revoked_at)
$$;
comment on function private.invitation_view(public.workspace_invitations) is
  'An invitation as the API shows it, with its status (pending, accepted, revoked, expired); never the token hash.';

create function private.invitation_token_hash(p_token text) returns bytea
language sql immutable
set search_path = ''
as $$
  select sha256(convert_to(coalesce(p_token, ''), 'UTF8'))
$$;

create function private.raise_invitation_error(p_sqlstate text, p_code text, p_message text) returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = p_sqlstate, message = p_message,
                        detail = jsonb_build_object('code', p_code)::text;
end
$$;

create function public.invite_to_workspace(p_workspace_id uuid, p_email text,
                                           p_role public.workspace_role default 'agent')
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  v_email text := lower(btrim(coalesce(p_email, '')));
  v_caller_role public.workspace_role := private.role_in_workspace(p_workspace_id);
  v_token text;
  v_replaced public.workspace_invitations;
  v_invitation public.workspace_invitations;
begin
  if uid is null or v_caller_role is null then
    -- Not a member: the same answer as for a workspace that does not exist.
    perform private.raise_invitation_error('P0002', 'workspace_not_found', 'no such workspace');
  end if;
  if v_caller_role < 'admin' then
    perform private.raise_invitation_error('42501', 'forbidden', 'only admins and owners can invite');
  end if;
  if p_role is null or p_role = 'owner' then
    -- An invitation never makes an owner: an owner promotes a member once they have joined.
    perform private.raise_invitation_error('42501', 'role_not_invitable',
      'an invitation makes an agent or an admin; an owner can make a member an owner once they have joined');
  end if;
  if char_length(v_email) > 320 or v_email !~ '^[^@[:space:]]+@[^@[:space:]]+$' then
    perform private.raise_invitation_error('22023', 'invalid_email', 'that is not an e-mail address');
  end if;
  if exists (select 1 from public.workspace_members m join auth.users u on u.id = m.user_id
              where m.workspace_id = p_workspace_id and lower(u.email) = v_email) then
    perform private.raise_invitation_error('P0409', 'already_member',
      'someone with that e-mail address is already a member of this workspace');
  end if;

  -- Inviting the same address again (say the first message was lost) replaces the open
  -- invitation: its token stops working.
  update public.workspace_invitations
     set revoked_at = now(), revoked_by = uid
   where workspace_id = p_workspace_id and email = v_email and accepted_at is null and revoked_at is null
  returning * into v_replaced;

  v_token := 'nlinv_' || encode(extensions.gen_random_bytes(32), 'hex');
  insert into public.workspace_invitations (workspace_id, email, role, token_hash, invited_by, expires_at)
  values (p_workspace_id, v_email, p_role, private.invitation_token_hash(v_token), uid, now() + interval '7 days')
  returning * into v_invitation;

  perform private.write_audit_log(p_workspace_id, uid, 'invitation.created', 'workspace_invitation',
                                  v_invitation.id::text,
                                  jsonb_build_object('email', v_email, 'role', p_role,
                                                     'replaced_invitation_id', v_replaced.id));
  return private.invitation_view(v_invitation) || jsonb_build_object('token', v_token);
end
$$;
comment on function public.invite_to_workspace(uuid, text, public.workspace_role) is
  'Admins and owners: invites an e-mail address to the workspace as agent or admin, for 7 days. Returns the '
  'invitation with its token, the only time the token is shown. Inviting the same address again replaces the '
  'open invitation.';

create function public.accept_workspace_invitation(p_token text)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  v_email text;
  v_confirmed timestamptz;
  v_invitation public.workspace_invitations;
  v_already_member boolean;
begin
  if uid is null then
    perform private.raise_invitation_error('42501', 'forbidden', 'sign in to accept an invitation');
  end if;
  -- Locked, so two accepts (or an accept and a revoke) of one invitation take turns.
  select * into v_invitation from public.workspace_invitations
   where token_hash = private.invitation_token_hash(p_token)
   for update;
  if not found then
    perform private.raise_invitation_error('P0002', 'invitation_not_found', 'no such invitation');
  end if;

  -- The address first: someone else holding the token learns nothing about its state.
  select lower(u.email), u.email_confirmed_at into v_email, v_confirmed from auth.users u where u.id = uid;
  if v_confirmed is null then
    perform private.raise_invitation_error('42501', 'email_not_verified',
      'confirm your e-mail address before accepting an invitation');
  end if;
  if v_email is distinct from v_invitation.email then
    perform private.raise_invitation_error('42501', 'invitation_email_mismatch',
      'this invitation is for another e-mail address');
  end if;
  if v_invitation.revoked_at is not null then
    perform private.raise_invitation_error('P0410', 'invitation_revoked', 'this invitation was revoked');
  end if;
  if v_invitation.accepted_at is not null then
    perform private.raise_invitation_error('P0409', 'invitation_already_accepted',
      'this invitation has already been accepted');
  end if;
  if v_invitation.expires_at <= now() then
    perform private.raise_invitation_error('P0410', 'invitation_expired',
      'this invitation has expired; ask for a new one');
  end if;

  v_already_member := exists (select 1 from public.workspace_members m
                               where m.workspace_id = v_invitation.workspace_id and m.user_id = uid);
  -- Someone who joined meanwhile keeps the role they have. The seat limit (P0402) applies here.
  insert into public.workspace_members (workspace_id, user_id, role)
  values (v_invitation.workspace_id, uid, v_invitation.role)
  on conflict (workspace_id, user_id) do nothing;

  update public.workspace_invitations set accepted_at = now(), accepted_by = uid
   where id = v_invitation.id
  returning * into v_invitation;
  perform private.write_audit_log(v_invitation.workspace_id, uid, 'invitation.accepted', 'workspace_invitation',
                                  v_invitation.id::text,
                                  jsonb_build_object('role', v_invitation.role, 'already_member', v_already_member));
  return private.invitation_view(v_invitation) || jsonb_build_object(
    'already_member', v_already_member,
    'member_role', (select m.role from public.workspace_members m
                     where m.workspace_id = v_invitation.workspace_id and m.user_id = uid));
end
$$;
comment on function public.accept_workspace_invitation(text) is
  'The invitee (signed in, with the invitation''s address confirmed) joins the workspace with the invited role. '
  'Single use; refused once expired or revoked; the seat limit applies.';

create function public.revoke_workspace_invitation(p_workspace_id uuid, p_invitation_id uuid)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  v_caller_role public.workspace_role := private.role_in_workspace(p_workspace_id);
  v_invitation public.workspace_invitations;
begin
  if uid is null or v_caller_role is null then
    perform private.raise_invitation_error('P0002', 'workspace_not_found', 'no such workspace');
  end if;
  if v_caller_role < 'admin' then
    perform private.raise_invitation_error('42501', 'forbidden', 'only admins and owners can revoke invitations');
  end if;
  select * into v_invitation from public.workspace_invitations
   where id = p_invitation_id and workspace_id = p_workspace_id
   for update;
  if not found then
    perform private.raise_invitation_error('P0002', 'invitation_not_found', 'no such invitation');
  end if;
  if v_invitation.accepted_at is not null then
    perform private.raise_invitation_error('P0409', 'invitation_already_accepted',
      'this invitation has already been accepted; remove the member instead');
  end if;
  -- Revoking twice changes nothing and is not logged twice.
  if v_invitation.revoked_at is null then
    update public.workspace_invitations set revoked_at = now(), revoked_by = uid
     where id = v_invitation.id
    returning * into v_invitation;
    perform private.write_audit_log(p_workspace_id, uid, 'invitation.revoked', 'workspace_invitation',
                                    v_invitation.id::text, jsonb_build_object('email', v_invitation.email));
  end if;
  return private.invitation_view(v_invitation);
end
$$;
comment on function public.revoke_workspace_invitation(uuid, uuid) is
  'Admins and owners: revokes an invitation that has not been accepted (again: no change).';

revoke all on function private.invitation_view(public.workspace_invitations), private.invitation_token_hash(text),
  private.raise_invitation_error(text, text, text)
  from public, anon, authenticated;
-- PostgreSQL lets PUBLIC (so anon) execute a new function: only signed-in users may.
revoke all on function public.invite_to_workspace(uuid, text, public.workspace_role),
  public.accept_workspace_invitation(text), public.revoke_workspace_invitation(uuid, uuid)
  from public, anon;
grant execute on function public.invite_to_workspace(uuid, text, public.workspace_role),
  public.accept_workspace_invitation(text), public.revoke_workspace_invitation(uuid, uuid)
  to authenticated;
