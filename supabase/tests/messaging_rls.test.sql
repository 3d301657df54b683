-- Conversations, messages, media and canned messages: members read (and work the inbox);
-- a member of another workspace reads and changes nothing; anon nothing; the private
-- messaging functions are not callable by API users.
begin;
select plan(47);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('alice-1'), '+15550001111')
returning id as num \gset

select private.receive_inbound_message(:'ws', :'num', 'MM' || md5('in-1'), '+15551230001', '+15550001111', 'Photo attached',
  1, '[{"url": "https://api.twilio.test/media/1", "content_type": "image/jpeg"}]') as inbound \gset
select :'inbound'::jsonb ->> 'conversation_id' as conv, :'inbound'::jsonb ->> 'message_id' as msg \gset
insert into public.canned_messages (workspace_id, title, body) values (:'ws', 'Hours', 'We open at 9, {{first_name|there}}.')
returning id as canned \gset

-- ---------------------------------------------------------------------------------------
-- Members
select tests.authenticate_as('bob');
select is((select count(*)::int from public.conversations), 1, 'a member sees the workspace''s conversations');
select is((select count(*)::int from public.messages), 1, 'a member sees its messages');
select is((select count(*)::int from public.message_media), 1, 'a member sees their media');
select is((select unread_count from public.conversations where id = :'conv'), 1, 'the inbound message is unread');
select lives_ok(format($$ select public.mark_conversation_read(%L) $$, :'conv'), 'a member marks a conversation read');
select is((select unread_count from public.conversations where id = :'conv'), 0, 'unread_count is back to 0');
select is(tests.attempt(format($$ update public.conversations set status = 'closed', assigned_to = %L where id = %L $$,
                                 tests.user_id('bob'), :'conv')),
  'rows:1', 'a member closes and assigns a conversation');
select throws_ok(format($$ update public.conversations set assigned_to = %L where id = %L $$, tests.user_id('mallory'), :'conv'),
  '23503', null, 'a conversation is assigned only to a member of its workspace');
select throws_ok(format($$ update public.conversations set unread_count = 5 where id = %L $$, :'conv'), '42501', null,
  'clients cannot set unread_count');
select throws_ok(format($$ update public.conversations set workspace_id = %L where id = %L $$, :'ws_m', :'conv'), '42501', null,
  'a conversation cannot move to another workspace');
select throws_ok(format($$ update public.messages set status = 'delivered' where id = %L $$, :'msg'), '42501', null,
  'clients cannot change a message''s status');
select throws_ok(format($$ delete from public.messages where id = %L $$, :'msg'), '42501', null, 'clients cannot delete messages');
select lives_ok(format($$ insert into public.canned_messages (workspace_id, title, body) values (%L, 'Thanks', 'Thank you!') $$, :'ws'),
  'a member adds a canned message');
select is(tests.attempt(format($$ update public.canned_messages set body = 'We open at 8.' where id = %L $$, :'canned')),
  'rows:1', 'a member edits a canned message');
select throws_ok(format($$ update public.canned_messages set created_by = %L $$, tests.user_id('bob')), '42501', null,
  'created_by is not editable');
select is((select created_by from public.canned_messages where title = 'Thanks'), tests.user_id('bob'), 'created_by is the author');

-- ---------------------------------------------------------------------------------------
-- A member of another workspace
select tests.authenticate_as('mallory');
select is_empty(format($$ select 1 from public.conversations where workspace_id = %L $$, :'ws'), 'outsider reads no conversations');
select is(tests.attempt(format($$ insert into public.conversations (workspace_id, phone_number_id, contact_id)
                                    select %L, %L, contact_id from public.conversations $$, :'ws', :'num')),
  'denied', 'outsider cannot create conversations');
select is(tests.attempt(format($$ update public.conversations set status = 'open' where id = %L $$, :'conv')),
  'rows:0', 'outsider cannot change conversations');
select is(tests.attempt(format($$ delete from public.conversations where id = %L $$, :'conv')),
  'denied', 'outsider cannot delete conversations');
select throws_ok(format($$ select public.mark_conversation_read(%L) $$, :'conv'), '42501', null,
  'outsider cannot mark a conversation read');

select is_empty(format($$ select 1 from public.messages where workspace_id = %L $$, :'ws'), 'outsider reads no messages');
select is(tests.attempt(format($$ insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, status, source)
                                    values (%L, %L, 'outbound', '+15550001111', '+15551230001', 'queued', 'manual') $$, :'ws', :'conv')),
  'denied', 'outsider cannot add messages');
select is(tests.attempt(format($$ update public.messages set body = 'pwned' where id = %L $$, :'msg')),
  'denied', 'outsider cannot change messages');
select is(tests.attempt(format($$ delete from public.messages where id = %L $$, :'msg')),
  'denied', 'outsider cannot delete messages');

select is_empty(format($$ select 1 from public.message_media where workspace_id = %L $$, :'ws'), 'outsider reads no media');
select is(tests.attempt(format($$ insert into public.message_media (workspace_id, message_id, url, position)
                                    values (%L, %L, 'https://evil.test/x', 9) $$, :'ws', :'msg')),
  'denied', 'outsider cannot add media');
select is(tests.attempt(format($$ update public.message_media set url = 'https://evil.test/x' where message_id = %L $$, :'msg')),
  'denied', 'outsider cannot change media');
select is(tests.attempt(format($$ delete from public.message_media where message_id = %L $$, :'msg')),
  'denied', 'outsider cannot delete media');

select is_empty(format($$ select 1 from public.canned_messages where workspace_id = %L $$, :'ws'), 'outsider reads no canned messages');
select is(tests.attempt(format($$ insert into public.canned_messages (workspace_id, title, body) values (%L, 'x', 'x') $$, :'ws')),
  'denied', 'outsider cannot add canned messages');
select is(tests.attempt(format($$ update public.canned_messages set body = 'pwned' where id = %L $$, :'canned')),
  'rows:0', 'outsider cannot edit canned messages');
select is(tests.attempt(format($$ delete from public.canned_messages where id = %L $$, :'canned')),
  'rows:0', 'outsider cannot delete canned messages');

-- API users cannot call the service's functions.
select throws_ok(format($$ select private.receive_inbound_message(%L, %L, %L, '+15551230002', '+15550001111', 'hi', 1, '[]') $$,
                        :'ws', :'num', 'SM' || md5('forged')),
  '42501', null, 'authenticated cannot inject inbound messages');
select throws_ok($$ select private.purge_pending_message_statuses() $$, '42501', null, 'authenticated cannot purge parked callbacks');
select throws_ok(format($$ select private.record_opt_out(%L, '+15551230001', 'manual') $$, :'ws'), '42501', null,
  'authenticated cannot call record_opt_out');
select throws_ok(format($$ select private.record_opt_in(%L, '+15551230001', 'manual') $$, :'ws'), '42501', null,
  'authenticated cannot call record_opt_in');
select throws_ok(format($$ select private.advance_message_status(%L, 'delivered', null, null) $$, :'msg'), '42501', null,
  'authenticated cannot call advance_message_status');
select throws_ok(format($$ select private.upsert_contact(%L, '+15551230003') $$, :'ws'), '42501', null,
  'authenticated cannot call upsert_contact');
select throws_ok($$ select 1 from private.pending_message_statuses $$, '42501', null, 'authenticated cannot read parked callbacks');

-- anon: nothing.
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.conversations $$, '42501', null, 'anon cannot read conversations');
select throws_ok($$ select 1 from public.messages $$, '42501', null, 'anon cannot read messages');
select throws_ok($$ select 1 from public.message_media $$, '42501', null, 'anon cannot read media');
select throws_ok($$ select 1 from public.canned_messages $$, '42501', null, 'anon cannot read canned messages');
select throws_ok(format($$ select public.mark_conversation_read(%L) $$, :'conv'), '42501', null, 'anon cannot mark read');

select tests.clear_authentication();
select is((select row(c.status, m.body)::text from public.conversations c join public.messages m on m.conversation_id = c.id
            where c.id = :'conv'), row('closed', 'Photo attached')::text, 'the conversation is as its members left it');
select is((select body from public.canned_messages where id = :'canned'), 'We open at 8.', 'the canned message is intact');

select * from finish();
rollback;
