-- Invitations through PostgREST: who reads them, who makes, accepts and revokes them, and what
-- the functions refuse (SQLSTATE and the DETAIL code the service answers with).
begin;
select plan(24);

select tests.create_user('owner');
select tests.create_user('admin');
select tests.create_user('agent');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('owner') as ws \gset
-- Room for everyone below (the free plan has 2 seats).
update public.plans set limits = limits || '{"seats": 10}' where id = 'free';
insert into public.workspace_members (workspace_id, user_id, role) values
  (:'ws', tests.user_id('admin'), 'admin'), (:'ws', tests.user_id('agent'), 'agent');

-- The DETAIL code of the error a statement raises.
create function pg_temp.refusal(statement text) returns text language plpgsql as $$
declare
  state text;
  d text;
begin
  execute statement;
  return 'no error';
exception when others then
  get stacked diagnostics state = returned_sqlstate, d = pg_exception_detail;
  return state || ' ' || coalesce(d::jsonb ->> 'code', '-');
end
$$;
grant execute on function pg_temp.refusal(text) to authenticated;

-- Who may invite, and as what.
select tests.authenticate_as('agent');
select is(pg_temp.refusal(format($$ select public.invite_to_workspace(%L, 'bob@example.test') $$, :'ws')),
  '42501 forbidden', 'an agent cannot invite');
select tests.authenticate_as('mallory');
select is(pg_temp.refusal(format($$ select public.invite_to_workspace(%L, 'bob@example.test') $$, :'ws')),
  'P0002 workspace_not_found', 'a non-member cannot invite (and learns nothing about the workspace)');
select tests.authenticate_as('admin');
select is(pg_temp.refusal(format($$ select public.invite_to_workspace(%L, 'bob@example.test', 'owner') $$, :'ws')),
  '42501 role_not_invitable', 'an admin cannot invite an owner');
select is(pg_temp.refusal(format($$ select public.invite_to_workspace(%L, 'not an address') $$, :'ws')),
  '22023 invalid_email', 'the address must be one');
select is(pg_temp.refusal(format($$ select public.invite_to_workspace(%L, 'AGENT@example.test') $$, :'ws')),
  'P0409 already_member', 'a member is not invited again');
select tests.clear_authentication();
select tests.invite(:'ws', 'admin', 'bob', 'admin') as bob_token \gset
select is((select role::text || ' ' || email || ' ' || (expires_at - created_at)::text
             from public.workspace_invitations where workspace_id = :'ws'),
  'admin bob@example.test 7 days', 'an admin invites bob as admin, for 7 days');
select is((select token_hash from public.workspace_invitations where workspace_id = :'ws'),
  sha256(convert_to(:'bob_token', 'UTF8')), 'only the token''s SHA-256 is stored');
select is((select action || ' ' || (details ->> 'email') from public.audit_log where workspace_id = :'ws'),
  'invitation.created bob@example.test', 'the invitation is audited');

-- Who reads them: the workspace's admins and the invitee, never the token hash.
select tests.authenticate_as('owner');
select is((select count(*)::int from public.workspace_invitations), 1, 'the owner reads the workspace''s invitations');
select tests.authenticate_as('agent');
select is_empty($$ select 1 from public.workspace_invitations $$, 'an agent does not');
select tests.authenticate_as('mallory');
select is_empty($$ select 1 from public.workspace_invitations $$, 'nor does anyone else');
select tests.authenticate_as('bob');
select is((select role::text from public.workspace_invitations), 'admin', 'the invitee reads the one to their address');
select throws_ok($$ select token_hash from public.workspace_invitations $$, '42501', null, 'nobody reads the token hash');
select tests.authenticate_as('owner');
select throws_ok($$ update public.workspace_invitations set role = 'admin' $$, '42501', null,
  'invitations change only through the functions');
select throws_ok(format($$ insert into public.workspace_invitations (workspace_id, email, role, token_hash, expires_at)
                           values (%L, 'x@example.test', 'agent', sha256('x'), now() + interval '1 year') $$, :'ws'),
  '42501', null, 'clients cannot write invitations');

-- Accepting: the invitee's own verified address only, once.
select tests.authenticate_as('mallory');
select is(pg_temp.refusal(format($$ select public.accept_workspace_invitation(%L) $$, :'bob_token')),
  '42501 invitation_email_mismatch', 'someone else holding the token cannot accept it');
select is(pg_temp.refusal($$ select public.accept_workspace_invitation('nlinv_guess') $$),
  'P0002 invitation_not_found', 'an unknown token is not found');
select tests.clear_authentication();
update auth.users set email_confirmed_at = null where id = tests.user_id('bob');
select tests.authenticate_as('bob');
select is(pg_temp.refusal(format($$ select public.accept_workspace_invitation(%L) $$, :'bob_token')),
  '42501 email_not_verified', 'an unconfirmed address cannot accept');
select tests.clear_authentication();
update auth.users set email_confirmed_at = now() where id = tests.user_id('bob');
select tests.authenticate_as('bob');
select is((public.accept_workspace_invitation(:'bob_token') ->> 'member_role'), 'admin', 'bob accepts and is an admin');
select is(pg_temp.refusal(format($$ select public.accept_workspace_invitation(%L) $$, :'bob_token')),
  'P0409 invitation_already_accepted', 'an invitation is used once');

-- Expired and revoked invitations are gone.
select tests.clear_authentication();
select tests.invite(:'ws', 'owner', 'mallory') as mallory_token \gset
update public.workspace_invitations set expires_at = now() - interval '1 second' where email = 'mallory@example.test';
select tests.authenticate_as('mallory');
select is(pg_temp.refusal(format($$ select public.accept_workspace_invitation(%L) $$, :'mallory_token')),
  'P0410 invitation_expired', 'an expired invitation cannot be accepted');
select tests.clear_authentication();
select tests.invite(:'ws', 'owner', 'mallory') as mallory_token \gset
select id as mallory_invitation from public.workspace_invitations
 where email = 'mallory@example.test' and revoked_at is null \gset
select tests.authenticate_as('agent');
select is(pg_temp.refusal(format($$ select public.revoke_workspace_invitation(%L, %L) $$, :'ws', :'mallory_invitation')),
  '42501 forbidden', 'an agent cannot revoke');
select tests.authenticate_as('admin');
select is(public.revoke_workspace_invitation(:'ws', :'mallory_invitation') ->> 'status', 'revoked', 'an admin revokes');
select tests.authenticate_as('mallory');
select is(pg_temp.refusal(format($$ select public.accept_workspace_invitation(%L) $$, :'mallory_token')),
  'P0410 invitation_revoked', 'a revoked invitation cannot be accepted');

select tests.clear_authentication();
select * from finish();
rollback;
