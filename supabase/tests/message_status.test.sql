-- Delivery status: forward only, duplicates and late arrivals change nothing, callbacks that
-- beat the send's own write are kept and applied, 21610 opts the recipient out, and only
-- the workspace's own Twilio account counts.
begin;
select plan(33);

select tests.create_user('alice');
select tests.personal_workspace('alice') as ws \gset
insert into public.twilio_accounts (workspace_id, account_sid) values (:'ws', 'AC' || md5('alice-account'));
select 'AC' || md5('alice-account') as acct, 'AC' || md5('someone-else') as other_acct \gset
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('alice-1'), '+15550001111')
returning id as num \gset

-- Six queued messages, prepared for Alice as the service prepares a send.
select tests.authenticate_as_service_role();
select (private.prepare_outbound_message(:'ws', tests.user_id('alice'), :'num', '+1555123000' || n, 'msg ' || n, null, 1,
                                         'gsm7') ->> 'message_id')
  from generate_series(1, 6) n;
select tests.clear_authentication();
select max(id::text) filter (where to_e164 = '+15551230001') as m1, max(id::text) filter (where to_e164 = '+15551230002') as m2,
       max(id::text) filter (where to_e164 = '+15551230003') as m3, max(id::text) filter (where to_e164 = '+15551230004') as m4,
       max(id::text) filter (where to_e164 = '+15551230005') as m5, max(id::text) filter (where to_e164 = '+15551230006') as m6
  from public.messages \gset
select 'SM' || md5('s1') as s1, 'SM' || md5('s2') as s2, 'SM' || md5('s3') as s3, 'SM' || md5('s4') as s4,
       'SM' || md5('s5') as s5 \gset

select tests.authenticate_as_service_role();

-- Submit, then callbacks in order, out of order, duplicated.
select is(private.mark_message_submitted(:'m1', :'s1', 'queued') - 'message_id' - 'workspace_id',
  jsonb_build_object('applied', true, 'status', 'queued', 'twilio_sid', :'s1', 'pending_applied', 0),
  'mark_message_submitted records the SID');
select is(private.mark_message_submitted(:'m1', :'s1', 'queued') ->> 'applied', 'false', 'recording the same SID again changes nothing');
select throws_ok(format($$ select private.mark_message_submitted(%L, %L, 'queued') $$, :'m1', :'s2'), '55000', null,
  'a message keeps the SID it was submitted with');
select is(private.apply_message_status(:'acct', :'s1', 'sent', null, null),
  jsonb_build_object('applied', true, 'message_id', :'m1', 'workspace_id', :'ws', 'status', 'sent'),
  'a later status applies');
select is(private.apply_message_status(:'acct', :'s1', 'sending', null, null) ->> 'applied', 'false',
  'an earlier status arriving late changes nothing');
select is(private.apply_message_status(:'acct', :'s1', 'delivered', null, null) ->> 'status', 'delivered', 'delivered applies');
select is(private.apply_message_status(:'acct', :'s1', 'sent', null, null),
  jsonb_build_object('applied', false, 'message_id', :'m1', 'workspace_id', :'ws', 'status', 'delivered'),
  'a late sent after delivered changes nothing');
select is(private.apply_message_status(:'acct', :'s1', 'delivered', null, null) ->> 'applied', 'false', 'a duplicate is a no-op');
select is(private.apply_message_status(:'acct', :'s1', 'failed', 30003, 'Unreachable') ->> 'status', 'delivered',
  'nothing overrides a terminal status');
select is(private.apply_message_status(:'acct', :'s1', 'read', null, null) ->> 'status', 'read', 'read (WhatsApp) follows delivered');
select is(private.apply_message_status(:'acct', :'s1', 'bogus', null, null) ->> 'applied', 'false', 'an unknown status is ignored');

-- Error codes; terminal failures stay.
select private.mark_message_submitted(:'m2', :'s2', 'accepted');
select is(private.apply_message_status(:'other_acct', :'s2', 'delivered', null, null),
  '{"applied": false, "message_id": null, "workspace_id": null, "status": null, "reason": "account_mismatch"}'::jsonb,
  'a callback from another Twilio account changes nothing');
select is(private.apply_message_status(:'acct', :'s2', 'undelivered', 30003, 'Unreachable destination handset') ->> 'status',
  'undelivered', 'undelivered applies');
select is(private.apply_message_status(:'acct', :'s2', 'delivered', null, null) ->> 'status', 'undelivered',
  'delivered after undelivered changes nothing');
select is((select row(status, error_code, error_message)::text from public.messages where id = :'m2'),
  row('undelivered', 30003, 'Unreachable destination handset')::text, 'the error code and message are stored');

-- The callback beats the send's own write: kept, then applied by mark_message_submitted.
select is(private.apply_message_status(:'acct', :'s3', 'sent', null, null),
  '{"applied": false, "message_id": null, "workspace_id": null, "status": null, "pending": true}'::jsonb,
  'a callback for an unknown SID is kept');
select private.apply_message_status(:'acct', :'s3', 'delivered', null, null);
select tests.clear_authentication();
select is((select count(*)::int from private.pending_message_statuses where message_sid = :'s3'), 2, 'both early callbacks are parked');
select tests.authenticate_as_service_role();
select is(private.mark_message_submitted(:'m3', :'s3', 'queued') - 'message_id' - 'workspace_id',
  jsonb_build_object('applied', true, 'status', 'delivered', 'twilio_sid', :'s3', 'pending_applied', 2),
  'recording the SID applies the early callbacks');
select tests.clear_authentication();
select is((select count(*)::int from private.pending_message_statuses where message_sid = :'s3'), 0, 'and clears them');
select is((select status from public.messages where id = :'m3'), 'delivered', 'the message ends delivered, not queued');

-- An early callback from another account is not applied.
select tests.authenticate_as_service_role();
select private.apply_message_status(:'other_acct', :'s4', 'delivered', null, null);
select is(private.mark_message_submitted(:'m4', :'s4', 'queued') ->> 'status', 'queued',
  'a parked callback from another account is discarded');

-- 21610: Twilio says the recipient unsubscribed.
select private.mark_message_submitted(:'m5', :'s5', 'queued');
select is(private.apply_message_status(:'acct', :'s5', 'failed', 21610, 'Attempt to send to unsubscribed recipient') ->> 'status',
  'failed', 'the failure applies');
select is((select source from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+15551230005'), 'twilio_21610',
  'error 21610 opts the recipient out');
select is(private.mark_message_failed(:'m6', 21610, 'Attempt to send to unsubscribed recipient'),
  jsonb_build_object('applied', true, 'message_id', :'m6', 'workspace_id', :'ws', 'status', 'failed'),
  'mark_message_failed fails a refused send');
select is((select source from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+15551230006'), 'twilio_21610',
  'a send refused with 21610 opts the recipient out');
select is(private.mark_message_failed(:'m1', 30007, 'filtered') ->> 'applied', 'false', 'mark_message_failed does not undo delivery');
select throws_ok($$ select private.mark_message_failed(gen_random_uuid(), 1, 'x') $$, 'P0002', null, 'an unknown message is an error');

select tests.authenticate_as_service_role();
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230005', 'again?', null, 1, 'gsm7') $$,
                        :'ws', tests.user_id('alice'), :'num'),
  'P0409', 'this recipient has unsubscribed at Twilio (error 21610); they must text START before you can message them',
  'after 21610 the recipient cannot be texted');

-- authenticated callers cannot drive statuses.
select tests.authenticate_as('alice');
select throws_ok(format($$ select private.apply_message_status(%L, %L, 'delivered', null, null) $$, :'acct', :'s4'),
  '42501', null, 'authenticated cannot apply status callbacks');
select throws_ok(format($$ select private.mark_message_submitted(%L, %L, 'delivered') $$, :'m4', :'s4'),
  '42501', null, 'authenticated cannot mark messages submitted');
select throws_ok(format($$ select private.mark_message_failed(%L, 1, 'x') $$, :'m4'),
  '42501', null, 'authenticated cannot mark messages failed');

select tests.clear_authentication();
select is((select status_updated_at is not null and error_code is null from public.messages where id = :'m1'), true,
  'a status that did not apply left no error behind');
select is((select count(*)::int from public.opt_out_events where source = 'twilio_21610'), 2, 'both 21610 opt-outs are in the history');

select * from finish();
rollback;
