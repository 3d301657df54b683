-- Contacts, lists and opt-outs: members share them; another workspace's member sees and
-- changes nothing; opt-outs change only through opt_out()/opt_in(), which keep history.
begin;
select plan(52);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');

insert into public.contacts (workspace_id, phone_e164, first_name) values (:'ws', '+15551230001', 'Ann')
returning id as contact_id \gset
insert into public.contacts (workspace_id, phone_e164, first_name) values (:'ws_m', '+15551239999', 'Mo')
returning id as mallory_contact_id \gset
insert into public.contact_lists (workspace_id, name) values (:'ws', 'VIP') returning id as list_id \gset
insert into public.contact_list_members (workspace_id, list_id, contact_id) values (:'ws', :'list_id', :'contact_id');
select private.record_opt_out(:'ws', '+15551230002', 'manual');

-- ---------------------------------------------------------------------------------------
-- A member (agent) works the shared contact book.
select tests.authenticate_as('bob');
select results_eq($$ select first_name from public.contacts $$, array['Ann'], 'a member reads the workspace''s contacts');
select lives_ok(format($$ insert into public.contacts (workspace_id, phone_e164, first_name, tags, custom_fields)
                          values (%L, '+15551230003', 'Cy', '{vip}', '{"plan": "gold"}') $$, :'ws'),
  'a member adds a contact');
select throws_ok(format($$ insert into public.contacts (workspace_id, phone_e164) values (%L, '+15551230003') $$, :'ws'),
  '23505', null, 'a number is one contact per workspace');
select throws_ok(format($$ insert into public.contacts (workspace_id, phone_e164) values (%L, '555-1234') $$, :'ws'),
  '23514', null, 'contact numbers are E.164');
select throws_ok(format($$ insert into public.contacts (workspace_id, phone_e164, created_at) values (%L, '+15551230004', now()) $$, :'ws'),
  '42501', null, 'clients cannot set created_at');
select is(tests.attempt($$ update public.contacts set last_name = 'Lee' where first_name = 'Ann' $$), 'rows:1',
  'a member edits a contact');
select throws_ok(format($$ update public.contacts set workspace_id = %L $$, :'ws_m'), '42501', null,
  'a contact cannot be moved to another workspace');
select throws_ok($$ update public.contacts set phone_e164 = '+15550000000' $$, '42501', null,
  'a contact''s number cannot be changed');
select lives_ok(format($$ insert into public.contact_lists (workspace_id, name) values (%L, 'Leads') $$, :'ws'),
  'a member creates a list');
select throws_ok(format($$ insert into public.contact_list_members (workspace_id, list_id, contact_id) values (%L, %L, %L) $$,
                        :'ws', :'list_id', :'mallory_contact_id'),
  '23503', null, 'a list cannot hold another workspace''s contact');
select throws_ok(format($$ insert into public.opt_outs (workspace_id, phone_e164, source) values (%L, '+15551230005', 'manual') $$, :'ws'),
  '42501', null, 'opt-outs are not written directly (history would be lost)');

-- opt_out / opt_in / is_opted_out
select is(public.opt_out(:'ws', '+15551230005'), true, 'opt_out opts a number out');
select is(public.opt_out(:'ws', '+15551230005'), false, 'opting out twice changes nothing');
select is(public.is_opted_out(:'ws', '+15551230005'), true, 'is_opted_out sees it');
select is((select source from public.opt_outs where phone_e164 = '+15551230005'), 'manual', 'source defaults to manual');
select is(public.opt_in(:'ws', '+15551230005'), true, 'opt_in removes the opt-out');
select is(public.is_opted_out(:'ws', '+15551230005'), false, 'the number may be texted again');
select is(public.opt_in(:'ws', '+15551230005'), false, 'opting in twice changes nothing');
select results_eq($$ select action from public.opt_out_events where phone_e164 = '+15551230005' order by id $$,
  array['opted_out', 'opted_in'], 'history keeps both the opt-out and the re-opt-in');
select is((select actor_user_id from public.opt_out_events where phone_e164 = '+15551230005' limit 1), tests.user_id('bob'),
  'history says who did it');
select throws_ok(format($$ select public.opt_out(%L, '+15551230006', 'keyword:STOP') $$, :'ws'), '22023', null,
  'members cannot forge a keyword opt-out');
select throws_ok(format($$ select public.opt_out(%L, '5551230006') $$, :'ws'), '22023', null,
  'opt_out wants an E.164 number');

-- ---------------------------------------------------------------------------------------
-- A member of another workspace: reads nothing, changes nothing.
select tests.authenticate_as('mallory');
select is_empty(format($$ select 1 from public.contacts where workspace_id = %L $$, :'ws'), 'outsider reads no contacts');
select is(tests.attempt(format($$ insert into public.contacts (workspace_id, phone_e164) values (%L, '+15551230007') $$, :'ws')),
  'denied', 'outsider cannot add contacts');
select is(tests.attempt(format($$ update public.contacts set first_name = 'pwned' where id = %L $$, :'contact_id')),
  'rows:0', 'outsider cannot edit contacts');
select is(tests.attempt(format($$ delete from public.contacts where id = %L $$, :'contact_id')),
  'rows:0', 'outsider cannot delete contacts');

select is_empty(format($$ select 1 from public.contact_lists where workspace_id = %L $$, :'ws'), 'outsider reads no lists');
select is(tests.attempt(format($$ insert into public.contact_lists (workspace_id, name) values (%L, 'x') $$, :'ws')),
  'denied', 'outsider cannot add lists');
select is(tests.attempt(format($$ update public.contact_lists set name = 'pwned' where id = %L $$, :'list_id')),
  'rows:0', 'outsider cannot rename lists');
select is(tests.attempt(format($$ delete from public.contact_lists where id = %L $$, :'list_id')),
  'rows:0', 'outsider cannot delete lists');

select is_empty(format($$ select 1 from public.contact_list_members where workspace_id = %L $$, :'ws'),
  'outsider reads no list memberships');
select is(tests.attempt(format($$ insert into public.contact_list_members (workspace_id, list_id, contact_id) values (%L, %L, %L) $$,
                                 :'ws', :'list_id', :'contact_id')),
  'denied', 'outsider cannot add to lists');
select is(tests.attempt(format($$ update public.contact_list_members set added_at = now() where list_id = %L $$, :'list_id')),
  'denied', 'outsider cannot change list memberships');
select is(tests.attempt(format($$ delete from public.contact_list_members where list_id = %L $$, :'list_id')),
  'rows:0', 'outsider cannot remove list memberships');

select is_empty(format($$ select 1 from public.opt_outs where workspace_id = %L $$, :'ws'), 'outsider reads no opt-outs');
select is(tests.attempt(format($$ insert into public.opt_outs (workspace_id, phone_e164, source) values (%L, '+15551230008', 'manual') $$, :'ws')),
  'denied', 'outsider cannot add opt-outs');
select is(tests.attempt(format($$ update public.opt_outs set source = 'import' where workspace_id = %L $$, :'ws')),
  'denied', 'outsider cannot change opt-outs');
select is(tests.attempt(format($$ delete from public.opt_outs where workspace_id = %L $$, :'ws')),
  'denied', 'outsider cannot delete opt-outs');
select is_empty(format($$ select 1 from public.opt_out_events where workspace_id = %L $$, :'ws'), 'outsider reads no opt-out history');
select is(tests.attempt(format($$ delete from public.opt_out_events where workspace_id = %L $$, :'ws')),
  'denied', 'outsider cannot erase opt-out history');

select throws_ok(format($$ select public.opt_in(%L, '+15551230002') $$, :'ws'), '42501', null,
  'outsider cannot opt a number back in');
select throws_ok(format($$ select public.opt_out(%L, '+15551230001') $$, :'ws'), '42501', null,
  'outsider cannot opt a number out');
select throws_ok(format($$ select public.is_opted_out(%L, '+15551230002') $$, :'ws'), '42501', null,
  'outsider cannot probe opt-outs');

-- anon: nothing.
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.contacts $$, '42501', null, 'anon cannot read contacts');
select throws_ok($$ select 1 from public.contact_lists $$, '42501', null, 'anon cannot read lists');
select throws_ok($$ select 1 from public.contact_list_members $$, '42501', null, 'anon cannot read list memberships');
select throws_ok($$ select 1 from public.opt_outs $$, '42501', null, 'anon cannot read opt-outs');
select throws_ok(format($$ select public.is_opted_out(%L, '+15551230002') $$, :'ws'), '42501', null,
  'anon cannot call is_opted_out');

-- Nothing the outsider tried took effect.
select tests.clear_authentication();
select is((select first_name || ' ' || last_name from public.contacts where id = :'contact_id'), 'Ann Lee',
  'the contact is as its members left it');
select is((select count(*)::int from public.contact_list_members where list_id = :'list_id'), 1, 'the list is intact');
select is((select count(*)::int from public.opt_outs where workspace_id = :'ws'), 1, 'the opt-out is intact');

select tests.rls_enabled('public');
select * from finish();
rollback;
