-- private.prepare_outbound_message, which the service calls just before it hands a message to
-- Twilio: the member it sends for, sender number, opt-out (P0409), threading, media, and replay
-- on an idempotency key. Clients cannot record outbound messages at all.
begin;
select plan(32);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');

insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('alice-1'), '+15550001111')
returning id as num \gset
insert into public.phone_numbers (workspace_id, twilio_sid, e164, status) values (:'ws', 'PN' || md5('alice-2'), '+15550002222', 'released')
returning id as released_num \gset
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws_m', 'PN' || md5('mallory-1'), '+15550009999')
returning id as mallory_num \gset
select private.record_opt_out(:'ws', '+15551230009', 'keyword:STOP');

select tests.user_id('bob') as bob \gset
select tests.authenticate_as_service_role();
select private.prepare_outbound_message(:'ws', :'bob', :'num', '+15551230001', 'Hello there', null, 1, 'gsm7', 'key-1') as first \gset

select is((:'first'::jsonb) - 'message_id' - 'conversation_id' - 'contact_id',
  '{"replayed": false, "status": "queued", "twilio_sid": null, "from": "+15550001111", "to": "+15551230001",
    "body": "Hello there", "media_urls": []}'::jsonb,
  'prepare_outbound_message returns the queued message');
select is((select row(direction, status, source, sent_by, num_segments, encoding, body)::text from public.messages
            where id = (:'first'::jsonb ->> 'message_id')::uuid),
  row('outbound', 'queued', 'manual', tests.user_id('bob'), 1, 'gsm7', 'Hello there')::text,
  'the message is stored as queued, sent by the member');
select is((select phone_e164 from public.contacts where id = (:'first'::jsonb ->> 'contact_id')::uuid), '+15551230001',
  'a contact is created for the recipient');
select is((select row(phone_number_id, contact_id, last_message_preview, unread_count)::text from public.conversations
            where id = (:'first'::jsonb ->> 'conversation_id')::uuid),
  row(:'num'::uuid, (:'first'::jsonb ->> 'contact_id')::uuid, 'Hello there', 0)::text,
  'the conversation is between the number and the contact, with a preview and nothing unread');

-- Replay on the idempotency key.
select is(private.prepare_outbound_message(:'ws', :'bob', :'num', '+15551230001', 'Hello there', null, 1, 'gsm7', 'key-1'),
  jsonb_set(:'first'::jsonb, '{replayed}', 'true'), 'the same idempotency key replays the first message');
select is(private.prepare_outbound_message(:'ws', :'bob', :'num', '+15551239999', 'something else', null, 1, 'gsm7', 'key-1') ->> 'message_id',
  :'first'::jsonb ->> 'message_id', 'a replay creates nothing, whatever else the request says');
select is((select count(*)::int from public.messages), 1, 'only one message exists after the replays');

-- Threading: same number and recipient, same conversation; media rows in order.
select private.prepare_outbound_message(:'ws', :'bob', :'num', '+15551230001', '', array['https://cdn.example.test/a.jpg',
                                       'https://cdn.example.test/b.png'], 1, 'gsm7', 'key-2') as second \gset
select is(:'second'::jsonb ->> 'conversation_id', :'first'::jsonb ->> 'conversation_id',
  'a second message to the same recipient from the same number joins the conversation');
select is(:'second'::jsonb -> 'media_urls', '["https://cdn.example.test/a.jpg", "https://cdn.example.test/b.png"]'::jsonb,
  'media urls are returned in order');
select results_eq(format($$ select position, url from public.message_media where message_id = %L order by position $$,
                         :'second'::jsonb ->> 'message_id'),
  $$ values (0, 'https://cdn.example.test/a.jpg'), (1, 'https://cdn.example.test/b.png') $$,
  'an MMS stores its media rows in order');
select is((select num_media from public.messages where id = (:'second'::jsonb ->> 'message_id')::uuid), 2, 'num_media counts them');
select is((select last_message_preview from public.conversations where id = (:'first'::jsonb ->> 'conversation_id')::uuid),
  '[media]', 'a media-only message previews as [media]');
select isnt(private.prepare_outbound_message(:'ws', :'bob', :'num', '+15551230001', 'no key', null, 1, 'gsm7') ->> 'message_id',
  private.prepare_outbound_message(:'ws', :'bob', :'num', '+15551230001', 'no key', null, 1, 'gsm7') ->> 'message_id',
  'without an idempotency key every call is a new message');

-- Refusals.
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230009', 'hi', null, 1, 'gsm7') $$, :'ws', :'bob', :'num'),
  'P0409', 'this recipient has opted out (they texted STOP); they must text START before you can message them',
  'an opted-out recipient is refused with P0409');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'bob', :'mallory_num'),
  '22023', null, 'a number of another workspace cannot send');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'bob', :'released_num'),
  '22023', null, 'a released number cannot send');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '5551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'bob', :'num'),
  '22023', null, 'the recipient must be E.164');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', '  ', null, 1, 'gsm7') $$, :'ws', :'bob', :'num'),
  '22023', null, 'an empty message is refused');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', null, 1, 'utf8') $$, :'ws', :'bob', :'num'),
  '22023', null, 'encoding is gsm7 or ucs2');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', array['file:///etc/passwd'], 1, 'gsm7') $$, :'ws', :'bob', :'num'),
  '22023', null, 'media must be http(s) URLs');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$,
                        :'ws', tests.user_id('mallory'), :'num'),
  '42501', 'only a member of the workspace sends its messages', 'the service sends only for a member of the workspace');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', null, 1, 'gsm7', 'key-1') $$,
                        :'ws', tests.user_id('mallory'), :'num'),
  '42501', null, '... so a non-member cannot replay a member''s idempotency key');
select throws_ok(format($$ select private.prepare_outbound_message(%L, null, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$,
                        :'ws', :'num'),
  '42501', null, '... and there is always a member it sends for');
select tests.clear_authentication();

-- Clients record no outbound message, by any route: a queued message is one the service sends.
select tests.authenticate_as('bob');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$,
                        :'ws', :'bob', :'num'),
  '42501', null, 'a member cannot call it');
select throws_ok(format($$ insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, status, source)
                          values (%L, %L, 'outbound', '+15550001111', '+15551230001', 'queued', 'manual') $$,
                        :'ws', :'first'::jsonb ->> 'conversation_id'),
  '42501', null, 'nor write messages directly');
select tests.authenticate_as('mallory');
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$,
                        :'ws', :'bob', :'num'),
  '42501', null, 'nor can an outsider, naming a member');
select tests.authenticate_as_anon();
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'bob', :'num'),
  '42501', null, 'nor anon');
select tests.clear_authentication();
select hasnt_function('public', 'prepare_outbound_message', 'no client-callable function prepares outbound messages');
select is((select coalesce(array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text), '{}')
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where has_function_privilege('authenticated', p.oid, 'execute')
              and n.nspname in ('public', 'private') and p.prosrc ~* 'insert\s+into\s+public\.messages'),
  '{}'::text[], 'no function a member may execute inserts into public.messages');

select tests.clear_authentication();
select is((select count(*)::int from public.messages where to_e164 = '+15551230009'), 0, 'nothing was stored for the opted-out recipient');
select is((select count(*)::int from public.messages where idempotency_key = 'key-1'), 1, 'one message per idempotency key');
select is((select count(*)::int from public.conversations), 1, 'one conversation in all');

select * from finish();
rollback;
