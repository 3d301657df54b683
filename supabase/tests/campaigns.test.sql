-- public.campaigns and campaign_recipients: admins write drafts (only granted columns, only drafts),
-- members read, nobody writes recipients; launch snapshots the audience (lists, tags, exclusions,
-- one per number, opted-out kept as skipped) once; the claim skips opt-outs made since launch,
-- renders each body, keeps each campaign's pace and settles expired leases; each claim's owner
-- token is required by every later worker call, so a worker whose lease ran out changes nothing
-- once another holds the recipient; pause/resume/cancel; the report counts outcomes, delivery
-- statuses and error codes.
begin;
select plan(116);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');

-- Throughput Twilio granted the number, and a window around the clock: pacing by sender and quiet
-- hours have their own assertions below, with their own numbers and clock.
insert into public.phone_numbers (workspace_id, twilio_sid, e164, segments_per_second) values
  (:'ws', 'PN' || repeat('c', 32), '+442079550001', 1000) returning id as num \gset
update public.workspaces set campaign_window_start = '00:00', campaign_window_end = '24:00' where id = :'ws';
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values
  (:'ws_m', 'PN' || repeat('d', 32), '+442079550002') returning id as num_m \gset
insert into public.contact_lists (workspace_id, name) values (:'ws', 'Spring') returning id as list \gset
insert into public.contact_lists (workspace_id, name) values (:'ws_m', 'Theirs') returning id as list_m \gset
insert into public.contacts (workspace_id, phone_e164, first_name, tags) values
  (:'ws', '+447700900001', 'Ann', '{}'),              -- on the list
  (:'ws', '+447700900002', null, '{vip}'),            -- on the list and tagged: once
  (:'ws', '+447700900003', 'Cy', '{vip}'),            -- tagged
  (:'ws', '+447700900004', 'Di', '{vip,staff}'),      -- tagged but excluded
  (:'ws', '+447700900005', 'Ed', '{}'),               -- on the list, opted out before launch
  (:'ws', '+447700900006', 'Flo', '{}');              -- in no audience
insert into public.contact_list_members (workspace_id, list_id, contact_id)
select :'ws', :'list', id from public.contacts
 where workspace_id = :'ws' and phone_e164 in ('+447700900001', '+447700900002', '+447700900005');
select private.record_opt_out(:'ws', '+447700900005', 'manual');

select tests.rls_enabled('public');

-- ---------------------------------------------------------------------------------------
-- Drafts through PostgREST
select tests.authenticate_as('bob');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body)
                          values (%L, 'Nope', %L, 'hi') $$, :'ws', :'num'),
  '42501', null, 'an agent cannot create a campaign');

select tests.authenticate_as('alice');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body, status)
                          values (%L, 'Sneaky', %L, 'hi', 'sending') $$, :'ws', :'num'),
  '42501', null, 'a client cannot set a campaign''s status');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids)
                          values (%L, 'Theirs', %L, 'hi', array[%L]::uuid[]) $$, :'ws', :'num', :'list_m'),
  '23503', null, 'an audience list of another workspace is refused');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body)
                          values (%L, 'Their number', %L, 'hi') $$, :'ws', :'num_m'),
  '23503', null, 'a sender number of another workspace is refused');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body, send_rate)
                          values (%L, 'Too fast', %L, 'hi', 20000) $$, :'ws', :'num'),
  '23514', null, 'the send rate is bounded');

insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids, include_tags, exclude_tags, send_rate)
values (:'ws', 'Spring sale', :'num', 'Hi {{first_name|there}}, 20% off this week', array[:'list']::uuid[],
        '{vip}', '{staff}', 100)
returning id as camp \gset
select is((select row(status, created_by)::text from public.campaigns where id = :'camp'),
  row('draft', tests.user_id('alice'))::text, 'an admin creates a draft, owned by them');
select is(tests.attempt(format($$ update public.campaigns set name = 'Spring SALE' where id = %L $$, :'camp')),
  'rows:1', 'an admin edits a draft');

select tests.authenticate_as('bob');
select is((select count(*)::int from public.campaigns where id = :'camp'), 1, 'a member reads the campaign');
select is(tests.attempt(format($$ update public.campaigns set name = 'x' where id = %L $$, :'camp')),
  'rows:0', 'an agent cannot edit it');
select throws_ok(format($$ select public.launch_campaign(%L) $$, :'camp'), '42501', null, 'an agent cannot launch it');

select tests.authenticate_as('mallory');
select is((select count(*)::int from public.campaigns), 0, 'another workspace reads no campaign');
select is(tests.attempt(format($$ delete from public.campaigns where id = %L $$, :'camp')), 'rows:0',
  'another workspace deletes no campaign');
select throws_ok(format($$ select public.launch_campaign(%L) $$, :'camp'), 'P0002', null,
  'to another workspace the campaign does not exist (launch)');
select throws_ok(format($$ select public.campaign_report(%L) $$, :'camp'), 'P0002', null,
  'to another workspace the campaign does not exist (report)');

select tests.authenticate_as_anon();
select throws_ok(format($$ select public.launch_campaign(%L) $$, :'camp'), '42501', null, 'anon cannot launch');

-- ---------------------------------------------------------------------------------------
-- Launch: the audience snapshot
select tests.authenticate_as('alice');
select public.launch_campaign(:'camp') as launched \gset
select is((:'launched'::jsonb) - 'scheduled_at' - 'last_error' - 'send_rate',
  ('{"campaign_id": "' || :'camp' || '", "status": "sending", "recipients_total": 4, "pending": 3, '
  '"skipped_opted_out": 1, "already_launched": false}')::jsonb, 'launch snapshots 4 recipients, 1 of them opted out');
select results_eq(format($$ select phone_e164, status from public.campaign_recipients where campaign_id = %L
                            order by phone_e164 $$, :'camp'),
  $$ values ('+447700900001', 'pending'), ('+447700900002', 'pending'), ('+447700900003', 'pending'),
            ('+447700900005', 'skipped_opted_out') $$,
  'list members and tagged contacts, once each, minus the excluded tag; the opted-out number is kept as skipped');
select is((public.launch_campaign(:'camp') ->> 'already_launched'), 'true', 'launching again is a no-op');
select is((select count(*)::int from public.campaign_recipients where campaign_id = :'camp'), 4,
  'launching again adds no recipient');
select is((select count(*)::int from public.audit_log where action = 'campaign.launched' and target_id = :'camp'), 1,
  'the launch is audited once');
select is(tests.attempt(format($$ update public.campaigns set body = 'changed' where id = %L $$, :'camp')), 'rows:0',
  'a launched campaign is not edited');
select is(tests.attempt(format($$ delete from public.campaigns where id = %L $$, :'camp')), 'rows:0',
  'a sending campaign is not deleted');
select is(tests.attempt(format($$ update public.campaign_recipients set status = 'sent' where campaign_id = %L $$, :'camp')),
  'denied', 'nobody edits recipients');
select is(tests.attempt(format($$ delete from public.campaign_recipients where campaign_id = %L $$, :'camp')),
  'denied', 'nobody deletes recipients');
select throws_ok($$ select * from private.claim_campaign_recipients(10, 60) $$, '42501', null,
  'a user cannot claim recipients');

-- ---------------------------------------------------------------------------------------
-- Claiming (as the worker)
select tests.clear_authentication();
select private.record_opt_out(:'ws', '+447700900003', 'keyword:STOP');  -- since launch
select tests.authenticate_as_service_role();
select results_eq($$ select to_e164, body, from_e164, attempts from private.claim_campaign_recipients(10, 60) order by 1 $$,
  $$ values ('+447700900001', 'Hi Ann, 20% off this week', '+442079550001', 1),
            ('+447700900002', 'Hi there, 20% off this week', '+442079550001', 1) $$,
  'the claim returns the rendered body per contact and skips a number opted out since launch');
select is((select status from public.campaign_recipients where campaign_id = :'camp' and phone_e164 = '+447700900003'),
  'skipped_opted_out', 'the number opted out since launch is recorded as skipped');
select is((select count(*)::int from private.claim_campaign_recipients(10, 60)), 0, 'claimed recipients are not claimed twice');

select id as r1, claim_token as t1 from public.campaign_recipients
 where campaign_id = :'camp' and phone_e164 = '+447700900001' \gset
select id as r2, claim_token as t2 from public.campaign_recipients
 where campaign_id = :'camp' and phone_e164 = '+447700900002' \gset
select isnt(:'t1'::uuid, :'t2'::uuid, 'each claim carries its own owner token');
select private.prepare_campaign_message(:r1, :'t1', 'Hi Ann, 20% off this week', 1, 'gsm7') ->> 'message_id' as m1 \gset
select is((select row(m.source, m.status, m.direction, m.body, m.sent_by, c.phone_number_id, ct.phone_e164)::text
             from public.messages m join public.conversations c on c.id = m.conversation_id
             join public.contacts ct on ct.id = c.contact_id where m.id = :'m1'),
  row('campaign', 'queued', 'outbound', 'Hi Ann, 20% off this week', tests.user_id('alice'), :'num'::uuid,
      '+447700900001')::text,
  'the campaign message is an ordinary outbound message in the contact''s conversation');
select private.record_campaign_send(:r1, :'t1', 'SM' || repeat('e', 32), 'queued');
select is((select row(r.status, m.twilio_sid)::text from public.campaign_recipients r
             join public.messages m on m.id = r.message_id where r.id = :r1),
  row('sent', 'SM' || repeat('e', 32))::text, 'a send records the SID and the recipient as sent');
select tests.clear_authentication();
select private.advance_message_status(:'m1', 'delivered', null, null);  -- its status callback
select tests.authenticate_as_service_role();
select private.prepare_campaign_message(:r2, :'t2', 'Hi there, 20% off this week', 1, 'gsm7');
select is(private.record_campaign_failure(:r2, :'t2', 20429, 'Too Many Requests', 5) ->> 'status', 'pending',
  'a rate-limited send goes back to pending');
select is((select count(*)::int from private.claim_campaign_recipients(10, 60)), 0, '... and waits for its backoff');
select tests.clear_authentication();
update public.campaign_recipients set next_attempt_at = now() - interval '1 second' where id = :r2;
select tests.authenticate_as_service_role();
select is((select attempts from private.claim_campaign_recipients(10, 60)), 2, 'then it is claimed again');
select claim_token as t2b from public.campaign_recipients where id = :r2 \gset
select isnt(:'t2b'::uuid, :'t2'::uuid, '... under a fresh owner token');
select is(private.prepare_campaign_message(:r2, :'t2b', 'Hi there', 1, 'gsm7') ->> 'message_id',
  (select message_id::text from public.campaign_recipients where id = :r2), 'the retry reuses its message row');
select is(private.record_campaign_failure(:r2, :'t2b', 21610, 'unsubscribed', null) ->> 'campaign_completed', 'true',
  'a 21610 fails the recipient, and the last outcome completes the campaign');
select is((select source from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+447700900002'),
  'twilio_21610', '21610 records the opt-out');

-- ---------------------------------------------------------------------------------------
-- The report (members)
select tests.authenticate_as('bob');
select public.campaign_report(:'camp') as report \gset
select is((:'report'::jsonb) -> 'recipients',
  '{"pending": 0, "claimed": 0, "uncertain": 0, "sent": 1, "failed": 1, "skipped_opted_out": 2, "skipped_removed": 0, '
  '"skipped_unreachable": 0, "canceled": 0}'::jsonb,
  'the report counts recipients by outcome');
select is((:'report'::jsonb) -> 'delivery' ->> 'delivered', '1', 'the report counts delivered messages');
select is((:'report'::jsonb) -> 'delivery' ->> 'failed', '1', '... and failed ones');
select is((:'report'::jsonb) -> 'errors', '[{"count": 1, "error_code": 21610}]'::jsonb, '... and the error codes');
select is((:'report'::jsonb) ->> 'status', 'completed', 'the campaign is completed');

-- ---------------------------------------------------------------------------------------
-- Pace, pause, resume, cancel, schedule, leases
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Slow', :'num', 'Hello', '{bulk}', 2) returning id as slow \gset
select tests.clear_authentication();
insert into public.contacts (workspace_id, phone_e164, tags)
select :'ws', '+4477009010' || lpad(i::text, 2, '0'), '{bulk}' from generate_series(1, 10) i;
select tests.authenticate_as('alice');
select public.launch_campaign(:'slow');
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 2,
  'at 2 messages/s a claim gets 2 recipients');
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 0, 'and then none until time passes');

select tests.authenticate_as('alice');
select is(public.pause_campaign(:'slow') ->> 'status', 'paused', 'an admin pauses');
select is(public.pause_campaign(:'slow') ->> 'status', 'paused', 'pausing again is harmless');
select tests.clear_authentication();
update public.campaigns set next_send_at = now() - interval '1 minute' where id = :'slow';
update private.send_pace set tat = now() - interval '1 minute';  -- the sender's pace too: time passed
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 0, 'a paused campaign is not claimed');
select tests.authenticate_as('alice');
select is(public.resume_campaign(:'slow') ->> 'status', 'sending', 'an admin resumes');
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 2, 'a resumed campaign is claimed again');

-- A lease that ran out before the message was made: back in the queue.
select tests.clear_authentication();
update public.campaign_recipients set claimed_until = now() - interval '1 second'
 where campaign_id = :'slow' and status = 'claimed';
update public.campaigns set next_send_at = now() - interval '1 minute' where id = :'slow';
update private.send_pace set tat = now() - interval '1 minute';  -- the sender's pace too: time passed
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60) where attempts = 2), 2,
  'recipients whose lease ran out are claimed again');

select tests.authenticate_as('alice');
select is(public.cancel_campaign(:'slow') ->> 'status', 'canceled', 'an admin cancels');
select is((select count(*)::int from public.campaign_recipients where campaign_id = :'slow' and claim_token is not null),
  0, 'a canceled claim keeps no owner token');
select is((select count(*)::int from public.campaign_recipients where campaign_id = :'slow' and status = 'canceled'), 10,
  'every unsent recipient is canceled');
select throws_ok(format($$ select public.resume_campaign(%L) $$, :'slow'), '55000', null, 'a canceled campaign stays canceled');
select throws_ok(format($$ select public.cancel_campaign(%L) $$, :'camp'), '55000', null, 'a completed campaign cannot be canceled');

insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags)
values (:'ws', 'Later', :'num', 'Soon', '{bulk}') returning id as later \gset
select is(public.launch_campaign(:'later', now() + interval '1 hour') ->> 'status', 'scheduled',
  'a launch with a future time is scheduled');
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 0, 'a scheduled campaign waits for its time');

-- ---------------------------------------------------------------------------------------
-- Owner tokens: a worker whose lease ran out, once another worker holds the recipient, changes nothing.
-- (now() is the transaction's start, so the lease is put in the past rather than slept through.)
select tests.clear_authentication();
insert into public.contacts (workspace_id, phone_e164, first_name, tags) values (:'ws', '+447700902001', 'Lee', '{lease}');
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Leases', :'num', 'Hi {{first_name}}', '{lease}', 10) returning id as lease \gset
select public.launch_campaign(:'lease');
select tests.authenticate_as_service_role();
select recipient_id as lr, claim_token as lt1 from private.claim_campaign_recipients(50, 1)
 where campaign_id = :'lease' \gset
select is((select claim_token from public.campaign_recipients where id = :lr), :'lt1'::uuid,
  'the claim returns the owner token stored on the recipient');

select tests.clear_authentication();
update public.campaign_recipients set claimed_until = now() - interval '1 second' where id = :lr;  -- the 1 s lease ran out
select tests.authenticate_as_service_role();
select is(private.prepare_campaign_message(:lr, :'lt1', 'Hi Lee', 1, 'gsm7') ->> 'reason', 'claim_expired',
  'once its lease has run out, the holder makes no message');
select is((select message_id from public.campaign_recipients where id = :lr), null, '... and none is made');

select recipient_id as lr2, claim_token as lt2 from private.claim_campaign_recipients(50, 60)
 where campaign_id = :'lease' \gset
select is(:lr2, :lr, 'a second worker claims the recipient whose lease ran out');
select isnt(:'lt2'::uuid, :'lt1'::uuid, '... under a fresh owner token');

select is(private.prepare_campaign_message(:lr, :'lt1', 'Hi Lee', 1, 'gsm7') ->> 'reason', 'claim_lost',
  'the first worker cannot make the message for the recipient the second one holds');
select is(private.prepare_campaign_message(:lr, null, 'Hi Lee', 1, 'gsm7') ->> 'reason', 'claim_lost',
  '... nor can a call without a token');
select is(private.record_campaign_send(:lr, :'lt1', 'SM' || repeat('f', 32), 'queued') ->> 'status', 'claim_lost',
  'the first worker cannot record a send for it');
select is(private.record_campaign_failure(:lr, :'lt1', 20429, 'Too Many Requests', 5) ->> 'status', 'claim_lost',
  'the first worker cannot put it back for a retry');
select is(private.record_campaign_failure(:lr, :'lt1', 30007, 'Carrier violation', null) ->> 'status', 'claim_lost',
  'the first worker cannot fail it');
select is((select row(status, claim_token, message_id, attempts, error_code, next_attempt_at <= now())::text
             from public.campaign_recipients where id = :lr),
  row('claimed', :'lt2'::uuid, null::uuid, 2, null::integer, true)::text,
  'none of the first worker''s calls changed the recipient');
select is((select count(*)::int from public.messages where to_e164 = '+447700902001'), 0,
  'and no message was made for it');

select is(private.prepare_campaign_message(:lr, :'lt2', 'Hi Lee', 1, 'gsm7') ->> 'send', 'true',
  'the second worker makes the message');
select is(private.record_campaign_send(:lr, :'lt2', 'SM' || repeat('a', 32), 'queued') ->> 'campaign_completed', 'true',
  'the second worker records the send, which completes the campaign');
select is((select row(r.status, r.claim_token, m.twilio_sid)::text from public.campaign_recipients r
             join public.messages m on m.id = r.message_id where r.id = :lr),
  row('sent', null::uuid, 'SM' || repeat('a', 32))::text, 'the recipient is sent and its claim ended');
select is(private.record_campaign_failure(:lr, :'lt2', 30007, 'late', null) ->> 'status', 'claim_lost',
  'an ended claim''s token is refused too');
select is((select count(*)::int from public.messages where to_e164 = '+447700902001'), 1, 'one message in all');


-- ---------------------------------------------------------------------------------------
-- Uncertain sends: an expired lease whose message a callback linked is sent; one nobody knows
-- about waits out the grace as uncertain and comes back with reconcile = true and its message.
select tests.clear_authentication();
insert into public.contacts (workspace_id, phone_e164, tags) values
  (:'ws', '+447700903001', '{recon}'), (:'ws', '+447700903002', '{recon}');
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Recon', :'num', 'Hello', '{recon}', 50) returning id as recon \gset
select public.launch_campaign(:'recon');
select tests.authenticate_as_service_role();
select recipient_id as ra, claim_token as ta from private.claim_campaign_recipients(50, 6)
 where campaign_id = :'recon' and to_e164 = '+447700903001' \gset
select id as rb, claim_token as tb from public.campaign_recipients where campaign_id = :'recon' and phone_e164 = '+447700903002' \gset
select private.prepare_campaign_message(:ra, :'ta', 'Hello', 1, 'gsm7') ->> 'message_id' as ma \gset
select private.prepare_campaign_message(:rb, :'tb', 'Hello', 1, 'gsm7') ->> 'message_id' as mb \gset
select private.mark_message_submitted(:'ma', 'SM' || repeat('b', 32), 'queued');  -- its callback, ?message_id=
select tests.clear_authentication();
update public.campaign_recipients set claimed_until = now() - interval '1 second' where campaign_id = :'recon';
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 6) where campaign_id = :'recon'), 0,
  'recipients whose send is unknown are not handed out again at once');
select results_eq(format($$ select phone_e164, status, reconcile from public.campaign_recipients
                            where campaign_id = %L order by 1 $$, :'recon'),
  $$ values ('+447700903001', 'sent', false), ('+447700903002', 'uncertain', true) $$,
  'an expired lease: sent when a callback linked the SID, else uncertain');
select tests.authenticate_as('alice');
select is((public.campaign_report(:'recon') -> 'recipients' ->> 'uncertain')::int, 1, 'the report counts uncertain apart');
select is((public.campaign_report(:'recon') ->> 'status'), 'sending', '... and the campaign is not done');
select tests.authenticate_as_service_role();
select is((select row(reconcile, message_id)::text from private.claim_campaign_recipients(50, 6, now() + interval '3 seconds')
            where campaign_id = :'recon'),
  row(true, :'mb'::uuid)::text, 'after the grace the claim returns it to be looked up, with its message');
select claim_token as tb2 from public.campaign_recipients where id = :rb \gset
select is(private.record_campaign_send(:rb, :'tb2', 'SM' || repeat('c', 32), 'sent') ->> 'campaign_completed', 'true',
  'found at Twilio: recorded as sent with its SID, which completes the campaign');
select is((select reconcile from public.campaign_recipients where id = :rb), false, '... and it is settled');

-- The same, settled by the first status callback while uncertain.
select tests.clear_authentication();
update private.send_pace set tat = '-infinity';  -- the claim 3 s ahead used the sender's pace up to then
insert into public.contacts (workspace_id, phone_e164, tags) values (:'ws', '+447700903003', '{recon2}');
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Recon 2', :'num', 'Hello', '{recon2}', 50) returning id as recon2 \gset
select public.launch_campaign(:'recon2');
select tests.authenticate_as_service_role();
select recipient_id as rc, claim_token as tc from private.claim_campaign_recipients(50, 6) where campaign_id = :'recon2' \gset
select private.prepare_campaign_message(:rc, :'tc', 'Hello', 1, 'gsm7') ->> 'message_id' as mc \gset
select is(private.mark_campaign_uncertain(:rc, :'tc', 'read timeout') ->> 'status', 'uncertain',
  'Twilio did not answer: uncertain');
select is(private.mark_campaign_uncertain(:rc, :'tc', 'again') ->> 'status', 'claim_lost', '... once');
select private.mark_message_submitted(:'mc', 'SM' || repeat('d', 32), 'sent');
select is((select status from public.campaign_recipients where id = :rc), 'sent',
  'the message''s first callback settles an uncertain recipient as sent');

-- Leases: short, renewed by their owner while it lives, never revived once run out.
select tests.clear_authentication();
insert into public.contacts (workspace_id, phone_e164, tags) values (:'ws', '+447700903004', '{renew}');
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Renew', :'num', 'Hello', '{renew}', 50) returning id as renew \gset
select public.launch_campaign(:'renew');
select tests.authenticate_as_service_role();
select recipient_id as rr, claim_token as tr from private.claim_campaign_recipients(50) where campaign_id = :'renew' \gset
select is((select claimed_until - now() from public.campaign_recipients where id = :rr), interval '6 seconds',
  'a claim''s lease is seconds long');
select tests.clear_authentication();
update public.campaign_recipients set claimed_until = now() + interval '1 second' where id = :rr;
select tests.authenticate_as_service_role();
select is(private.renew_campaign_claims(array[:'tr'::uuid], 6), 1, 'its owner renews it');
select is((select claimed_until - now() from public.campaign_recipients where id = :rr), interval '6 seconds',
  '... for another lease');
select tests.clear_authentication();
update public.campaign_recipients set claimed_until = now() - interval '1 second' where id = :rr;
select tests.authenticate_as_service_role();
select is(private.renew_campaign_claims(array[:'tr'::uuid], 6), 0, 'a lease that ran out is not revived');

-- ---------------------------------------------------------------------------------------
-- Quiet hours: each recipient's local time, from its number (several zones: all must be inside).
select tests.clear_authentication();
insert into private.phone_time_zones (prefix, time_zones) values
  ('1212', '{America/New_York}'), ('1415', '{America/Los_Angeles}'),
  ('1850', '{America/Chicago,America/New_York}'), ('61', '{Australia/Sydney}')
on conflict (prefix) do update set time_zones = excluded.time_zones;
insert into public.phone_numbers (workspace_id, twilio_sid, e164, segments_per_second) values
  (:'ws', 'PN' || repeat('e', 32), '+14155550199', 1000) returning id as num_us \gset
insert into public.contacts (workspace_id, phone_e164, tags) values
  (:'ws', '+12125550101', '{zones}'), (:'ws', '+14155550102', '{zones}'), (:'ws', '+18505550103', '{zones}'),
  (:'ws', '+61255550104', '{zones}');
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate, send_window_start,
                              send_window_end)
values (:'ws', 'Zones', :'num_us', 'Hello', '{zones}', 50, '09:00', '20:00') returning id as zones \gset
select public.launch_campaign(:'zones');
select tests.authenticate_as_service_role();
-- Saturday 13 March 2027, 14:30 UTC: 09:30 in New York, 08:30 in Chicago, 06:30 in Los Angeles,
-- 01:30 on Sunday in Sydney.
select results_eq(format($$ select to_e164 from private.claim_campaign_recipients(50, 6, '2027-03-13 14:30Z')
                            where campaign_id = %L $$, :'zones'),
  $$ values ('+12125550101') $$, 'only the recipient inside its 09:00-20:00 is claimed');
select results_eq(format($$ select phone_e164, next_attempt_at from public.campaign_recipients
                            where campaign_id = %L and status = 'pending' order by 1 $$, :'zones'),
  $$ values ('+14155550102', '2027-03-13 17:00Z'::timestamptz), ('+18505550103', '2027-03-13 15:00Z'::timestamptz),
            ('+61255550104', '2027-03-13 22:00Z'::timestamptz) $$,
  'the others wait for 09:00 their time; a number in two zones for the later (the most restrictive)');
select is((select count(*)::int from private.claim_campaign_recipients(50, 6, '2027-03-13 15:00Z')
            where campaign_id = :'zones' and to_e164 = '+18505550103'), 1,
  'at 09:00 in Chicago the two-zone number is claimed');
-- DST: New York springs forward on Sunday 14 March 2027; the window follows the wall clock.
select is(private.send_window_opens('{America/New_York}', '09:00', '20:00', '2027-03-13 13:30Z', 'UTC'),
  '2027-03-13 14:00Z'::timestamptz, 'before the change, 09:00 in New York is 14:00 UTC');
select is(private.send_window_opens('{America/New_York}', '09:00', '20:00', '2027-03-14 13:30Z', 'UTC'),
  '2027-03-14 13:30Z'::timestamptz, 'after it, 13:30 UTC is 09:30: inside');
select is(private.send_window_opens('{America/New_York}', '09:00', '20:00', '2027-03-14 12:30Z', 'UTC'),
  '2027-03-14 13:00Z'::timestamptz, '... and the window opens at 13:00 UTC');
select is(private.send_window_opens('{America/New_York}', '09:00', '20:00', '2027-03-14 01:30Z', 'UTC'),
  '2027-03-14 13:00Z'::timestamptz, 'from the evening before the change, the next opening is after it');
select is(private.send_window_opens(null, '09:00', '20:00', '2026-03-07 08:30Z', 'Europe/London'),
  '2026-03-07 09:00Z'::timestamptz, 'a number of unknown zone is read in the workspace''s time zone');
select is(private.send_window_opens('{Europe/London}', '22:00', '06:00', '2026-03-07 23:30Z', 'UTC'),
  '2026-03-07 23:30Z'::timestamptz, 'a window may span midnight');

-- ---------------------------------------------------------------------------------------
-- Pace in segments, per sender: a long code sends 1 segment a second, a toll-free number 3.
select tests.clear_authentication();
update public.campaigns set status = 'canceled' where status in ('sending', 'scheduled');  -- others' slots aside
-- (the plan allows two numbers: both lose their throughput override, one becomes toll-free)
update public.phone_numbers set segments_per_second = null where id = :'num_us';
update public.phone_numbers set segments_per_second = null, number_type = 'toll_free' where id = :'num';
select :'num_us' as num_lc, :'num' as num_tf \gset
insert into public.contacts (workspace_id, phone_e164, tags)
select :'ws', '+4477009040' || i, '{segs}' from generate_series(1, 3) i;
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Long code', :'num_lc', repeat('x', 200), '{segs}', 100) returning id as seg_lc \gset
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Toll-free', :'num_tf', repeat('x', 200), '{segs}', 100) returning id as seg_tf \gset
select public.launch_campaign(:'seg_lc');
select public.launch_campaign(:'seg_tf');
select tests.authenticate_as_service_role();
select is(private.sms_segment_count(repeat('x', 200)), 2, 'a 200-character GSM-7 body is 2 segments');
create temporary table seg_claims as
select campaign_id, segments, send_at from private.claim_campaign_recipients(50, 6, '2030-01-01 00:00Z')
 where campaign_id in (:'seg_lc', :'seg_tf');
select results_eq(format($$ select segments, send_at from seg_claims where campaign_id = %L $$, :'seg_lc'),
  $$ values (2, '2030-01-01 00:00Z'::timestamptz) $$,
  'a 2-segment message costs a long code (1 segment/s) two seconds: one message in the first second');
select results_eq(format($$ select segments, send_at from seg_claims where campaign_id = %L order by 2 $$, :'seg_tf'),
  $$ values (2, '2030-01-01 00:00Z'::timestamptz), (2, '2030-01-01 00:00:00.701754Z'::timestamptz) $$,
  '... a toll-free number (3 segments/s) two thirds of a second (and 5% to spare): two, each with its slot');
select is((select count(*)::int from private.claim_campaign_recipients(50, 6, '2030-01-01 00:00:01Z')
            where campaign_id = :'seg_lc'), 0, 'the long code has no room one second later');
select is((select count(*)::int from private.claim_campaign_recipients(50, 6, '2030-01-01 00:00:01.5Z')
            where campaign_id = :'seg_lc'), 1, '... and its next message half a second after that');


-- ---------------------------------------------------------------------------------------
-- A worker's batch: its messages made by their claims' holder, its sends recorded in one call.
select tests.clear_authentication();
update public.campaigns set status = 'canceled' where status in ('sending', 'scheduled');
update private.send_pace set tat = '-infinity';
update public.phone_numbers set segments_per_second = 1000 where id = :'num';
insert into public.contacts (workspace_id, phone_e164, tags) values
  (:'ws', '+447700905001', '{batch}'), (:'ws', '+447700905002', '{batch}');
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Batch', :'num', 'Hello', '{batch}', 50) returning id as batch \gset
select public.launch_campaign(:'batch');
select tests.authenticate_as_service_role();
create temporary table batch_claims as
select recipient_id, claim_token from private.claim_campaign_recipients(50, 6) where campaign_id = :'batch';
select is((select count(*)::int from private.make_campaign_messages((
            select jsonb_agg(jsonb_build_object('recipient_id', recipient_id, 'claim_token',
                                                case when recipient_id = (select min(recipient_id) from batch_claims)
                                                     then claim_token else gen_random_uuid() end,
                                                'body', 'Hello', 'segments', 1, 'encoding', 'gsm7'))
              from batch_claims))), 1,
  'only the holder of a claim (its token) makes its message');
select is((select count(*)::int from private.make_campaign_messages((
            select jsonb_agg(jsonb_build_object('recipient_id', recipient_id, 'claim_token', claim_token,
                                                'body', 'Hello', 'segments', 1, 'encoding', 'gsm7'))
              from batch_claims))), 1, '... once: a recipient that has its message is skipped');
select is((select count(*)::int from public.campaign_recipients r join public.messages m on m.id = r.message_id
            where r.campaign_id = :'batch' and m.source = 'campaign' and m.status = 'queued'), 2,
  'each claimed recipient has its queued campaign message');
select is(private.record_campaign_sends((
            select jsonb_agg(jsonb_build_object('recipient_id', recipient_id, 'claim_token', claim_token,
                                                'twilio_sid', 'SM' || md5(recipient_id::text), 'status', 'queued'))
              from batch_claims)) - 'claim_lost',
  '{"sent": 2, "campaign_completed": true}'::jsonb, 'the batch''s sends are recorded in one call');
select is(private.record_campaign_sends((
            select jsonb_agg(jsonb_build_object('recipient_id', recipient_id, 'claim_token', claim_token,
                                                'twilio_sid', 'SM' || md5(recipient_id::text), 'status', 'queued'))
              from batch_claims)) ->> 'claim_lost', '2', 'recording them again is refused (claims ended)');

-- ---------------------------------------------------------------------------------------
-- Twilio's error codes, and a text to a Messaging Service number the workspace does not list.
select tests.clear_authentication();
select results_eq($$ select private.twilio_error_class(c) from unnest(array[21610, 30003, 30005, 30006, 30007, 30008,
                                                                             21211]) c $$,
  $$ values ('opted_out'), ('unreachable'), ('unreachable'), ('unreachable'), ('filtered'), ('transient'),
            ('permanent') $$, 'error codes are classified permanent or transient');
update public.campaigns set messaging_service_sid = 'MG' || repeat('a', 32) where id = :'batch';
select tests.authenticate_as_service_role();
select is(private.messaging_service_inbound_number(:'ws', 'MG' || repeat('a', 32), '+15005550001'), :'num'::uuid,
  'a text to an unlisted number of a service the workspace''s campaigns used goes to that campaign''s number');
select is(private.messaging_service_inbound_number(:'ws', 'MG' || repeat('b', 32), '+15005550001'), null,
  '... and to a service it never used, nowhere');

-- ---------------------------------------------------------------------------------------
-- "Send later": any member schedules one message; the claim sends it as written.
select tests.authenticate_as('bob');
select is(public.schedule_message(:'ws', :'num', '+447700906001', 'See you {{first_name}}', now() + interval '1 hour')
            ->> 'status', 'scheduled', 'an agent schedules a message');
select throws_ok(format($$ select public.schedule_message(%L, %L, '+447700900005', 'Hi', now()) $$, :'ws', :'num'),
  'P0409', null, 'not to a number that opted out');
select tests.authenticate_as('mallory');
select throws_ok(format($$ select public.schedule_message(%L, %L, '+447700906002', 'Hi', now()) $$, :'ws', :'num'),
  '42501', null, 'not in another workspace');
select tests.authenticate_as_service_role();
select is((select body from private.claim_campaign_recipients(50, 6, now() + interval '2 hours')
            where to_e164 = '+447700906001'), 'See you {{first_name}}', 'at its time it is claimed, body as written');

select * from finish();
rollback;
