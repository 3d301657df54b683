-- Tenancy: who sees and changes profiles, workspaces and memberships.
begin;
select plan(34);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');

-- Signup made a profile and a personal workspace owned by each user.
select is((select count(*)::int from public.profiles where id = tests.user_id('alice')), 1, 'signup creates a profile');
select is((select role::text from public.workspace_members
            where workspace_id = tests.personal_workspace('alice') and user_id = tests.user_id('alice')),
          'owner', 'signup creates a personal workspace owned by the user');

-- Alice invites Bob to her workspace as an agent, and he accepts.
select tests.invite(tests.personal_workspace('alice'), 'alice', 'bob') as bob_token \gset
select tests.authenticate_as('bob');
select lives_ok(format($$ select public.accept_workspace_invitation(%L) $$, :'bob_token'),
  'an invited user joins by accepting the invitation');
select tests.clear_authentication();

-- Profiles: only your own.
select tests.authenticate_as('bob');
select results_eq($$ select id from public.profiles $$, array[tests.user_id('bob')], 'a user sees only their own profile');
select is_empty($$ update public.profiles set full_name = 'hacked' where id = tests.user_id('alice') returning id $$,
  'a user cannot change another user''s profile');
select throws_ok($$ update public.profiles set last_login_at = now() where id = tests.user_id('bob') $$,
  '42501', null, 'clients cannot set last_login_at');

-- Workspaces: members see theirs, nobody else's.
select set_eq($$ select id from public.workspaces $$,
  array[tests.personal_workspace('alice'), tests.personal_workspace('bob')],
  'a member sees their own workspaces and the ones they joined');
select tests.authenticate_as('mallory');
select results_eq($$ select id from public.workspaces $$, array[tests.personal_workspace('mallory')],
  'a non-member sees no other workspace');
select is_empty($$ select 1 from public.workspace_members where workspace_id = tests.personal_workspace('alice') $$,
  'a non-member sees none of a workspace''s members');
select is_empty($$ update public.workspaces set name = 'pwned' where id = tests.personal_workspace('alice') returning id $$,
  'a non-member cannot rename a workspace');
select is_empty($$ delete from public.workspaces where id = tests.personal_workspace('alice') returning id $$,
  'a non-member cannot delete a workspace');
select throws_ok(
  format($$ insert into public.workspace_members (workspace_id, user_id, role) values (%L, %L, 'owner') $$,
         tests.personal_workspace('alice'), tests.user_id('mallory')),
  '42501', null, 'a non-member cannot add themself to a workspace');
select is_empty($$ delete from public.workspace_members where workspace_id = tests.personal_workspace('alice') returning user_id $$,
  'a non-member cannot remove a workspace''s members');
select tests.authenticate_as('alice');
select throws_ok(
  format($$ insert into public.workspace_members (workspace_id, user_id, role) values (%L, %L, 'agent') $$,
         tests.personal_workspace('alice'), tests.user_id('mallory')),
  '42501', null, 'not even an owner adds a user id to a workspace: members join by invitation');
select tests.authenticate_as('mallory');
select throws_ok($$ insert into public.workspaces (name) values ('sneaky') $$, '42501', null,
  'workspaces are created only through create_workspace()');

-- Agents cannot change roles, including their own.
select tests.authenticate_as('bob');
select is_empty(
  format($$ update public.workspace_members set role = 'admin' where workspace_id = %L and user_id = %L returning role $$,
         tests.personal_workspace('alice'), tests.user_id('bob')),
  'an agent cannot raise their own role');
select is_empty(
  format($$ update public.workspace_members set role = 'agent' where workspace_id = %L and user_id = %L returning role $$,
         tests.personal_workspace('alice'), tests.user_id('alice')),
  'an agent cannot change another member''s role');
select is_empty($$ update public.workspaces set name = 'renamed by agent' where id = tests.personal_workspace('alice') returning id $$,
  'an agent cannot rename the workspace');

-- Admins manage members but cannot raise themselves or touch owners.
select tests.clear_authentication();
update public.workspace_members set role = 'admin'
 where workspace_id = tests.personal_workspace('alice') and user_id = tests.user_id('bob');
select tests.authenticate_as('bob');
select throws_ok(
  format($$ update public.workspace_members set role = 'owner' where workspace_id = %L and user_id = %L $$,
         tests.personal_workspace('alice'), tests.user_id('bob')),
  '42501', 'you cannot raise your own role', 'an admin cannot make themself owner');
select throws_ok(
  format($$ update public.workspace_members set role = 'agent' where workspace_id = %L and user_id = %L $$,
         tests.personal_workspace('alice'), tests.user_id('alice')),
  '42501', null, 'an admin cannot demote an owner');
select throws_ok(
  format($$ delete from public.workspace_members where workspace_id = %L and user_id = %L $$,
         tests.personal_workspace('alice'), tests.user_id('alice')),
  '42501', null, 'an admin cannot remove an owner');
select lives_ok($$ update public.workspaces set name = 'Alice & Co' where id = tests.personal_workspace('alice') $$,
  'an admin can rename the workspace');
select throws_ok($$ update public.workspace_members set user_id = tests.user_id('mallory') where user_id = tests.user_id('bob') $$,
  '42501', null, 'clients cannot move a membership to another user');

-- The last owner can be neither demoted nor removed.
select tests.authenticate_as('alice');
select throws_ok(
  format($$ update public.workspace_members set role = 'admin' where workspace_id = %L and user_id = %L $$,
         tests.personal_workspace('alice'), tests.user_id('alice')),
  '23514', 'a workspace must keep at least one owner', 'the last owner cannot be demoted');
select throws_ok(
  format($$ delete from public.workspace_members where workspace_id = %L and user_id = %L $$,
         tests.personal_workspace('alice'), tests.user_id('alice')),
  '23514', 'a workspace must keep at least one owner', 'the last owner cannot leave');
select lives_ok(
  format($$ update public.workspace_members set role = 'owner' where workspace_id = %L and user_id = %L $$,
         tests.personal_workspace('alice'), tests.user_id('bob')),
  'an owner can make an admin an owner');
select lives_ok(
  format($$ update public.workspace_members set role = 'admin' where workspace_id = %L and user_id = %L $$,
         tests.personal_workspace('alice'), tests.user_id('alice')),
  'an owner may step down once another owner exists');

-- create_workspace makes the caller its owner.
select tests.authenticate_as('mallory');
select lives_ok($$ select public.create_workspace('Mallory Ltd') $$, 'a user can create a workspace');
select is((select m.role::text from public.workspace_members m join public.workspaces w on w.id = m.workspace_id
            where w.name = 'Mallory Ltd' and m.user_id = tests.user_id('mallory')),
          'owner', 'create_workspace makes the caller owner');

-- The member directory: teammates' names and e-mails, for the caller's own workspaces only.
select tests.authenticate_as('bob');
select set_eq(format($$ select email from public.workspace_member_directory(%L) $$, tests.personal_workspace('alice')),
  array['alice@example.test', 'bob@example.test'], 'a member sees the e-mails of their workspace''s members');
select tests.authenticate_as('mallory');
select is_empty(format($$ select 1 from public.workspace_member_directory(%L) $$, tests.personal_workspace('alice')),
  'a non-member sees nobody in another workspace''s member directory');

-- anon sees nothing.
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.workspaces $$, '42501', null, 'anon cannot read workspaces');
select throws_ok(format($$ select * from public.workspace_member_directory(%L) $$, tests.personal_workspace('alice')),
  '42501', null, 'anon cannot read a member directory');

select tests.clear_authentication();
select tests.rls_enabled('public');
select * from finish();
rollback;
