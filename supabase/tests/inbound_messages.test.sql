-- receive_inbound_message: idempotent on MessageSid, threading, MMS media, unread counts,
-- STOP/START keywords in any case with surrounding space, HELP replies.
begin;
select plan(37);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.personal_workspace('alice') as ws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('alice-1'), '+15550001111')
returning id as num \gset
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('alice-2'), '+15550002222')
returning id as num2 \gset

select tests.authenticate_as_service_role();
select private.receive_inbound_message(:'ws', :'num', 'MM' || md5('in-1'), '+15551230001', '+15550001111', 'Here is the photo',
  1, '[{"url": "https://api.twilio.test/m/1", "content_type": "image/jpeg"},
       {"url": "https://api.twilio.test/m/2", "content_type": "image/png"}]', '2026-12-01 10:00+00') as r1 \gset

select is((:'r1'::jsonb) - 'workspace_id' - 'message_id' - 'conversation_id' - 'contact_id',
  '{"duplicate": false, "opt_out": null, "replies": []}'::jsonb, 'a first inbound message is stored, no automation');
select is(:'r1'::jsonb ->> 'workspace_id', :'ws', 'the result names the workspace');
select tests.clear_authentication();
select is((select row(direction, status, body, from_e164, to_e164, num_segments, num_media, created_at)::text
             from public.messages where id = (:'r1'::jsonb ->> 'message_id')::uuid),
  row('inbound', 'received', 'Here is the photo', '+15551230001', '+15550001111', 1, 2, '2026-12-01 10:00+00'::timestamptz)::text,
  'the message row holds what Twilio sent, at the time received');
select results_eq(format($$ select position, url, content_type from public.message_media where message_id = %L order by position $$,
                         :'r1'::jsonb ->> 'message_id'),
  $$ values (0, 'https://api.twilio.test/m/1', 'image/jpeg'), (1, 'https://api.twilio.test/m/2', 'image/png') $$,
  'MMS media are stored in order with their content types');
select is((select phone_e164 from public.contacts where id = (:'r1'::jsonb ->> 'contact_id')::uuid), '+15551230001',
  'the sender becomes a contact');
select is((select row(phone_number_id, unread_count, status, last_message_preview, last_message_at)::text
             from public.conversations where id = (:'r1'::jsonb ->> 'conversation_id')::uuid),
  row(:'num'::uuid, 1, 'open', 'Here is the photo', '2026-12-01 10:00+00'::timestamptz)::text,
  'the conversation is bumped: one unread, preview, time');

-- A retried webhook: same result, nothing changes.
select tests.authenticate_as_service_role();
select is(private.receive_inbound_message(:'ws', :'num', 'MM' || md5('in-1'), '+15551230001', '+15550001111', 'Here is the photo',
            1, '[{"url": "https://api.twilio.test/m/1"}, {"url": "https://api.twilio.test/m/2"}]', '2026-12-01 10:00+00'),
  jsonb_set(:'r1'::jsonb, '{duplicate}', 'true'), 'a retried webhook returns the same result marked duplicate');
select tests.clear_authentication();
select is((select count(*)::int from public.messages), 1, 'the retry stored no message');
select is((select count(*)::int from public.message_media), 2, 'the retry stored no media');
select is((select unread_count from public.conversations), 1, 'the retry did not bump unread_count');

-- Threading.
update public.conversations set status = 'closed';
select tests.authenticate_as_service_role();
select private.receive_inbound_message(:'ws', :'num', 'SM' || md5('in-2'), '+15551230001', '+15550001111', 'and another', 1, null,
  '2026-12-01 10:05+00') as r2 \gset
select private.receive_inbound_message(:'ws', :'num2', 'SM' || md5('in-3'), '+15551230001', '+15550002222', 'other line', 1, '[]',
  '2026-12-01 10:06+00') as r3 \gset
select is(:'r2'::jsonb ->> 'conversation_id', :'r1'::jsonb ->> 'conversation_id',
  'the same contact on the same number threads into the same conversation');
select isnt(:'r3'::jsonb ->> 'conversation_id', :'r1'::jsonb ->> 'conversation_id',
  'the same contact on another of the workspace''s numbers has its own conversation');
select is(:'r3'::jsonb ->> 'contact_id', :'r1'::jsonb ->> 'contact_id', 'but is the same contact');
select tests.clear_authentication();
select is((select row(unread_count, status, last_message_preview)::text from public.conversations
            where id = (:'r1'::jsonb ->> 'conversation_id')::uuid),
  row(2, 'open', 'and another')::text, 'a new inbound message reopens a closed conversation and counts unread');
select tests.authenticate_as_service_role();
select private.receive_inbound_message(:'ws', :'num', 'SM' || md5('in-late'), '+15551230001', '+15550001111', 'sent earlier', 1, '[]',
  '2026-12-01 09:00+00');
select tests.clear_authentication();
select is((select last_message_preview from public.conversations where id = (:'r1'::jsonb ->> 'conversation_id')::uuid),
  'and another', 'a message that arrives late does not replace the newer preview');
select tests.authenticate_as_service_role();
select throws_ok(format($$ select private.receive_inbound_message(%L, %L, %L, '+15551230001', '+15550001111', 'x', 1, '[]') $$,
                        tests.personal_workspace('bob'), :'num', 'SM' || md5('in-x')),
  '22023', null, 'a number of another workspace is refused');
select throws_ok(format($$ select private.receive_inbound_message(%L, %L, %L, '+15551230001', '+15550001111', 'x', 1, '[]') $$,
                        tests.personal_workspace('bob'), :'num', 'MM' || md5('in-1')),
  '23505', null, 'a MessageSid of another workspace''s message is refused');

-- Opt-out keywords: whole body, trimmed, any case. No reply from us (Twilio answers STOP).
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('stop-1'), '+15551230002', '+15550001111', '  stop ', 1, '[]')
            - 'workspace_id' - 'message_id' - 'conversation_id' - 'contact_id',
  '{"duplicate": false, "opt_out": "opted_out", "replies": []}'::jsonb, '" stop " opts out, no reply');
select is((select source from public.opt_outs where phone_e164 = '+15551230002'), 'keyword:STOP', 'the opt-out names the keyword');
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('stop-2'), '+15551230003', '+15550001111', E'\tStopAll\n', 1, '[]')
            ->> 'opt_out', 'opted_out', 'StopAll with tabs and newlines opts out');
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('stop-3'), '+15551230004', '+15550001111', 'unsubscribe', 1, '[]')
            ->> 'opt_out', 'opted_out', 'unsubscribe opts out');
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('stop-4'), '+15551230005', '+15550001111', 'Cancel', 1, '[]')
            ->> 'opt_out', 'opted_out', 'Cancel opts out');
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('stop-5'), '+15551230005', '+15550001111', 'please stop', 1, '[]')
            ->> 'opt_out', null, 'a sentence containing stop is not a keyword');
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('help-1'), '+15551230002', '+15550001111', 'HELP', 1, '[]')
            -> 'replies', '[]'::jsonb, 'an opted-out number gets no HELP reply');
select tests.clear_authentication();
select is((select array_agg(source order by phone_e164) from public.opt_outs),
  array['keyword:STOP', 'keyword:STOPALL', 'keyword:UNSUBSCRIBE', 'keyword:CANCEL'], 'four numbers opted out');

select tests.authenticate_as_service_role();
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('start-1'), '+15551230002', '+15550001111', ' Start', 1, '[]')
            - 'workspace_id' - 'message_id' - 'conversation_id' - 'contact_id',
  '{"duplicate": false, "opt_out": "opted_in", "replies": []}'::jsonb, 'START opts back in');
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('start-2'), '+15551230003', '+15550001111', 'unstop', 1, '[]')
            ->> 'opt_out', 'opted_in', 'unstop opts back in');
select tests.clear_authentication();
select is((select count(*)::int from public.opt_outs where phone_e164 in ('+15551230002', '+15551230003')), 0,
  'the opt-outs are gone');
select results_eq($$ select action, source from public.opt_out_events where phone_e164 = '+15551230002' order by id $$,
  $$ values ('opted_out', 'keyword:STOP'), ('opted_in', 'keyword:START') $$, 'the history keeps both');

-- HELP / INFO reply with the workspace's help text; an admin edits it.
select tests.authenticate_as_service_role();
select private.receive_inbound_message(:'ws', :'num', 'SM' || md5('help-2'), '+15551230002', '+15550001111', 'help ', 1, '[]',
  '2026-12-01 11:00+00') as h \gset
select is((:'h'::jsonb -> 'replies' -> 0) - 'message_id',
  jsonb_build_object('body', (select help_text from public.workspaces where id = :'ws'), 'source', 'help',
                     'status', 'queued', 'twilio_sid', null),
  'HELP is answered with the workspace''s help text, queued for sending');
select tests.clear_authentication();
select is((select row(direction, from_e164, to_e164, status, twilio_sid is null, reply_to_message_id, conversation_id, created_at)::text
             from public.messages where id = (:'h'::jsonb -> 'replies' -> 0 ->> 'message_id')::uuid),
  row('outbound', '+15550001111', '+15551230002', 'queued', true, (:'h'::jsonb ->> 'message_id')::uuid,
      (:'h'::jsonb ->> 'conversation_id')::uuid, '2026-12-01 11:00+00'::timestamptz)::text,
  'the reply is an outbound message in the same conversation, answering the inbound one');

select tests.authenticate_as('bob');
select is_empty(format($$ update public.workspaces set help_text = 'agent text' where id = %L returning id $$, :'ws'),
  'an agent cannot change the help text');
select tests.authenticate_as('alice');
select lives_ok(format($$ update public.workspaces set help_text = 'Alice & Co: call 555-0100.' where id = %L $$, :'ws'),
  'an admin sets the help text');
select tests.authenticate_as_service_role();
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('info-1'), '+15551230002', '+15550001111', 'Info', 1, '[]')
            -> 'replies' -> 0 ->> 'body', 'Alice & Co: call 555-0100.', 'INFO replies with the new help text');
select is(private.receive_inbound_message(:'ws', :'num', 'SM' || md5('info-1'), '+15551230002', '+15550001111', 'Info', 1, '[]')
            -> 'replies' -> 0 ->> 'body', 'Alice & Co: call 555-0100.', 'a retried HELP returns the same reply');
select tests.clear_authentication();
select is((select count(*)::int from public.messages where body = 'Alice & Co: call 555-0100.'), 1, 'and sends it once');
select is((select count(*)::int from public.conversations c join public.contacts k on k.id = c.contact_id
            where k.phone_e164 = '+15551230002'), 1, 'STOP, HELP, START and INFO from one number share one conversation');

select * from finish();
rollback;
