-- prepare_outbound_message: membership, sender number, opt-out (P0409), threading, media,
-- and replay on an idempotency key.
begin;
select plan(27);

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

select tests.authenticate_as('bob');
select public.prepare_outbound_message(:'ws', :'num', '+15551230001', 'Hello there', null, 1, 'gsm7', 'key-1') as first \gset

select is((:'first'::jsonb) - 'message_id' - 'conversation_id' - 'contact_id',
  '{"replayed": false, "status": "queued", "twilio_sid": null, "from": "+15550001111", "to": "+15551230001",
    "body": "Hello there", "media_urls": []}'::jsonb,
  'prepare_outbound_message returns the queued message');
select is((select row(direction, status, source, sent_by, num_segments, encoding, body)::text from public.messages
            where id = (:'first'::jsonb ->> 'message_id')::uuid),
  row('outbound', 'queued', 'manual', tests.user_id('bob'), 1, 'gsm7', 'Hello there')::text,
  'the message is stored as queued, sent by the caller');
select is((select phone_e164 from public.contacts where id = (:'first'::jsonb ->> 'contact_id')::uuid), '+15551230001',
  'a contact is created for the recipient');
select is((select row(phone_number_id, contact_id, last_message_preview, unread_count)::text from public.conversations
            where id = (:'first'::jsonb ->> 'conversation_id')::uuid),
  row(:'num'::uuid, (:'first'::jsonb ->> 'contact_id')::uuid, 'Hello there', 0)::text,
  'the conversation is between the number and the contact, with a preview and nothing unread');

-- Replay on the idempotency key.
select is(public.prepare_outbound_message(:'ws', :'num', '+15551230001', 'Hello there', null, 1, 'gsm7', 'key-1'),
  jsonb_set(:'first'::jsonb, '{replayed}', 'true'), 'the same idempotency key replays the first message');
select is(public.prepare_outbound_message(:'ws', :'num', '+15551239999', 'something else', null, 1, 'gsm7', 'key-1') ->> 'message_id',
  :'first'::jsonb ->> 'message_id', 'a replay creates nothing, whatever else the request says');
select is((select count(*)::int from public.messages), 1, 'only one message exists after the replays');

-- Threading: same number and recipient, same conversation; media rows in order.
select public.prepare_outbound_message(:'ws', :'num', '+15551230001', '', array['https://cdn.example.test/a.jpg',
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
select isnt(public.prepare_outbound_message(:'ws', :'num', '+15551230001', 'no key', null, 1, 'gsm7') ->> 'message_id',
  public.prepare_outbound_message(:'ws', :'num', '+15551230001', 'no key', null, 1, 'gsm7') ->> 'message_id',
  'without an idempotency key every call is a new message');

-- Refusals.
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230009', 'hi', null, 1, 'gsm7') $$, :'ws', :'num'),
  'P0409', 'recipient has opted out', 'an opted-out recipient is refused with P0409');
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'mallory_num'),
  '22023', null, 'a number of another workspace cannot send');
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'released_num'),
  '22023', null, 'a released number cannot send');
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '5551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'num'),
  '22023', null, 'the recipient must be E.164');
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230001', '  ', null, 1, 'gsm7') $$, :'ws', :'num'),
  '22023', null, 'an empty message is refused');
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230001', 'hi', null, 1, 'utf8') $$, :'ws', :'num'),
  '22023', null, 'encoding is gsm7 or ucs2');
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230001', 'hi', array['file:///etc/passwd'], 1, 'gsm7') $$, :'ws', :'num'),
  '22023', null, 'media must be http(s) URLs');
select throws_ok(format($$ insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, status, source)
                          values (%L, %L, 'outbound', '+15550001111', '+15551230001', 'delivered', 'manual') $$,
                        :'ws', :'first'::jsonb ->> 'conversation_id'),
  '42501', null, 'members cannot write messages directly');

-- Outsiders and anon.
select tests.authenticate_as('mallory');
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'num'),
  '42501', null, 'a non-member cannot send from the workspace');
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230001', 'hi', null, 1, 'gsm7', 'key-1') $$, :'ws', :'num'),
  '42501', null, 'a non-member cannot replay a member''s idempotency key');
select tests.authenticate_as_anon();
select throws_ok(format($$ select public.prepare_outbound_message(%L, %L, '+15551230001', 'hi', null, 1, 'gsm7') $$, :'ws', :'num'),
  '42501', null, 'anon cannot send');

select tests.clear_authentication();
select is((select count(*)::int from public.messages where to_e164 = '+15551230009'), 0, 'nothing was stored for the opted-out recipient');
select is((select count(*)::int from public.messages where idempotency_key = 'key-1'), 1, 'one message per idempotency key');
select is((select count(*)::int from public.conversations), 1, 'one conversation in all');

select * from finish();
rollback;
