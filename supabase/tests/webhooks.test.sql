-- Outbound webhooks: admin-only endpoints with a server-made secret, events queued per
-- subscribed endpoint, claiming with a lease and per-endpoint/per-workspace slots, retries with
-- backoff, dead after 8 attempts, the response excerpt capped.
begin;
select plan(51);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.twilio_accounts (workspace_id, account_sid) values (:'ws', 'AC' || md5('alice-account'));
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('alice-1'), '+15550001111')
returning id as num \gset

-- ---------------------------------------------------------------------------------------
-- Endpoints: admins only.
select tests.authenticate_as('alice');
insert into public.webhook_endpoints (workspace_id, url) values (:'ws', 'https://hooks.example.test/numeraloop')
returning id as e1, secret as e1_secret \gset
insert into public.webhook_endpoints (workspace_id, url, events) values (:'ws', 'http://127.0.0.1:9000/hook', '{message.status}')
returning id as e2 \gset
insert into public.webhook_endpoints (workspace_id, url, is_active) values (:'ws', 'http://localhost/off', false);
select ok(:'e1_secret' ~ '^whsec_[A-Za-z0-9+/]{43}=$', 'the database generates a Standard Webhooks secret: whsec_ + base64');
select is(length(decode(substr(:'e1_secret', 7), 'base64')), 32, 'of a 256-bit key');
select throws_ok(format($$ insert into public.webhook_endpoints (workspace_id, url, secret) values (%L, 'https://x.test', 'mine') $$, :'ws'),
  '42501', null, 'clients cannot choose the secret');
select throws_ok(format($$ update public.webhook_endpoints set secret = 'mine' where id = %L $$, :'e1'), '42501', null,
  'clients cannot overwrite the secret');
select throws_ok(format($$ insert into public.webhook_endpoints (workspace_id, url) values (%L, 'http://example.test/hook') $$, :'ws'),
  '23514', null, 'plain http is refused for remote hosts');
select throws_ok(format($$ insert into public.webhook_endpoints (workspace_id, url) values (%L, 'http://localhost.evil.test/hook') $$, :'ws'),
  '23514', null, 'a host that merely starts with localhost is remote');
select throws_ok(format($$ insert into public.webhook_endpoints (workspace_id, url, events) values (%L, 'https://x.test', '{call.started}') $$, :'ws'),
  '23514', null, 'only known events can be subscribed');
select isnt(public.rotate_webhook_secret(:'e1'), :'e1_secret', 'an admin rotates the secret');
select ok((select secret ~ '^whsec_[A-Za-z0-9+/]{43}=$' and length(decode(substr(secret, 7), 'base64')) = 32
             from public.webhook_endpoints where id = :'e1'), 'the new secret has the same form and size');
select isnt((select secret from public.webhook_endpoints where id = :'e1'), :'e1_secret', 'the old secret is gone');

select tests.authenticate_as('bob');
select is_empty($$ select 1 from public.webhook_endpoints $$, 'an agent cannot read endpoints (or their secrets)');
select is(tests.attempt(format($$ insert into public.webhook_endpoints (workspace_id, url) values (%L, 'https://x.test') $$, :'ws')),
  'denied', 'an agent cannot add endpoints');
select throws_ok(format($$ select public.rotate_webhook_secret(%L) $$, :'e1'), '42501', null, 'an agent cannot rotate a secret');

-- ---------------------------------------------------------------------------------------
-- Events are queued per subscribed, active endpoint.
select tests.authenticate_as_service_role();
select private.receive_inbound_message(:'ws', :'num', 'SM' || md5('in-1'), '+15551230001', '+15550001111', 'hello', 1, '[]') as r1 \gset
select tests.clear_authentication();
select results_eq($$ select endpoint_id::text, event from public.webhook_deliveries order by id $$,
  format($$ values (%L, 'message.received') $$, :'e1'),
  'message.received goes to the endpoint subscribed to it, not to others or inactive ones');
select is((select payload - 'id' - 'created_at' - 'data' from public.webhook_deliveries),
  jsonb_build_object('type', 'message.received', 'workspace_id', :'ws'), 'the payload names the event and workspace');
select is((select payload -> 'data' -> 'message' ->> 'body' from public.webhook_deliveries), 'hello', 'and carries the message');
select is((select (payload ->> 'id')::uuid = event_id from public.webhook_deliveries), true, 'the payload id is the event id');

select tests.authenticate_as_service_role();
select private.prepare_outbound_message(:'ws', tests.user_id('alice'), :'num', '+15551230001', 'hi back', null, 1, 'gsm7')
         ->> 'message_id' as m1 \gset
select private.mark_message_submitted(:'m1', 'SM' || md5('out-1'), 'queued');
select private.apply_message_status('AC' || md5('alice-account'), 'SM' || md5('out-1'), 'delivered', null, null);
select private.apply_message_status('AC' || md5('alice-account'), 'SM' || md5('out-1'), 'sent', null, null);
select tests.clear_authentication();
select is((select count(*)::int from public.webhook_deliveries where event = 'message.status'), 2,
  'a status change goes to both endpoints subscribed to message.status; a status that did not apply sends nothing');
select is((select count(distinct event_id)::int from public.webhook_deliveries where event = 'message.status'), 1,
  'both deliveries of one event share its id');
select is((select array_agg(distinct payload -> 'data' -> 'message' ->> 'status') from public.webhook_deliveries where event = 'message.status'),
  array['delivered'], 'the payload carries the new status');

-- ---------------------------------------------------------------------------------------
-- Claiming and completing.
select tests.authenticate_as_service_role();
create temp table claimed as select * from private.claim_webhook_deliveries(2, 60);
select is((select count(*)::int from claimed), 2, 'a worker claims up to its limit');
select is((select array_agg(attempts) from claimed), array[1, 1], 'each claim counts an attempt');
select is((select url from claimed order by delivery_id limit 1), 'https://hooks.example.test/numeraloop',
  'a claim carries the endpoint url');
select is((select secret from claimed order by delivery_id limit 1), (select secret from public.webhook_endpoints where id = :'e1'),
  'and the secret to sign with');
select is((select count(*)::int from private.claim_webhook_deliveries(10, 60)), 1, 'claimed rows are leased: only the third is left');
select is((select count(*)::int from private.claim_webhook_deliveries(10, 60)), 0, 'then nothing is due');

select (select delivery_id from claimed order by delivery_id limit 1) as d1, (select delivery_id from claimed order by delivery_id desc limit 1) as d2 \gset
select is(private.complete_webhook_delivery(:d1, true, 200, null) - 'delivery_id',
  '{"delivered": true, "dead": false, "attempts": 1, "next_attempt_at": null}'::jsonb, 'a 2xx marks the delivery delivered');
select is(private.complete_webhook_delivery(:d1, false, 500, 'late') ->> 'delivered', 'true', 'completing it again changes nothing');
select is(private.complete_webhook_delivery(:d2, false, 503, 'unavailable') ->> 'next_attempt_at',
  to_jsonb(now() + interval '30 seconds') #>> '{}', 'the first failure retries after 30 seconds');
select tests.clear_authentication();
select is((select row(last_status_code, last_error, delivered_at is null, dead)::text from public.webhook_deliveries where id = :d2),
  row(503, 'unavailable', true, false)::text, 'the failure is recorded');

-- Lease ends or retry comes due: claimable again, attempt 2, then backoff grows.
update public.webhook_deliveries set next_attempt_at = now() - interval '1 second' where id = :d2;
select tests.authenticate_as_service_role();
select is((select attempts from private.claim_webhook_deliveries(1, 60)), 2, 'a due retry is claimed again as attempt 2');
select is(private.complete_webhook_delivery(:d2, false, null, 'timeout') ->> 'next_attempt_at',
  to_jsonb(now() + interval '2 minutes') #>> '{}', 'the second failure retries after 2 minutes');
select tests.clear_authentication();
update public.webhook_deliveries set attempts = 8 where id = :d2;
select tests.authenticate_as_service_role();
select is(private.complete_webhook_delivery(:d2, false, 500, 'still down') - 'delivery_id',
  '{"delivered": false, "dead": true, "attempts": 8, "next_attempt_at": null}'::jsonb, 'the 8th failure makes it dead');
select tests.clear_authentication();
update public.webhook_deliveries set next_attempt_at = now() - interval '1 hour';
select tests.authenticate_as_service_role();
select is((select array_agg(delivery_id) from private.claim_webhook_deliveries(10, 60)),
  (select array_agg(id order by id) from public.webhook_deliveries where delivered_at is null and not dead),
  'delivered and dead rows are never claimed');

-- ---------------------------------------------------------------------------------------
-- Who else can see or drive the queue.
select tests.authenticate_as('alice');
select is((select count(*)::int from public.webhook_deliveries), 3, 'an admin reads the deliveries');
select throws_ok($$ select * from private.claim_webhook_deliveries(1, 60) $$, '42501', null, 'authenticated cannot claim deliveries');
select throws_ok(format($$ select private.complete_webhook_delivery(%s, true, 200, null) $$, :d2), '42501', null,
  'authenticated cannot complete deliveries');

select tests.authenticate_as('mallory');
select is_empty($$ select 1 from public.webhook_endpoints $$, 'outsider reads no endpoints');
select is(tests.attempt(format($$ insert into public.webhook_endpoints (workspace_id, url) values (%L, 'https://evil.test') $$, :'ws')),
  'denied', 'outsider cannot add endpoints');
select is(tests.attempt(format($$ update public.webhook_endpoints set url = 'https://evil.test' where id = %L $$, :'e1')),
  'rows:0', 'outsider cannot redirect endpoints');
select is(tests.attempt(format($$ delete from public.webhook_endpoints where id = %L $$, :'e1')),
  'rows:0', 'outsider cannot delete endpoints');
select is_empty($$ select 1 from public.webhook_deliveries $$, 'outsider reads no deliveries');
select is(tests.attempt($$ update public.webhook_deliveries set dead = true $$), 'denied', 'outsider cannot change deliveries');
select throws_ok(format($$ select public.rotate_webhook_secret(%L) $$, :'e1'), '42501', null, 'outsider cannot rotate a secret');
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.webhook_endpoints $$, '42501', null, 'anon cannot read endpoints');

select tests.clear_authentication();
select is((select url from public.webhook_endpoints where id = :'e1'), 'https://hooks.example.test/numeraloop',
  'the endpoint is as its admin left it');

-- ---------------------------------------------------------------------------------------
-- Slots: a slow workspace's deliveries take only its own; the excerpt of a response is capped.
update public.webhook_deliveries set dead = true;
insert into public.webhook_endpoints (workspace_id, url) values (:'ws', 'https://slow.example.test/a') returning id as slow_a \gset
insert into public.webhook_endpoints (workspace_id, url) values (:'ws', 'https://slow.example.test/b') returning id as slow_b \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.webhook_endpoints (workspace_id, url) values (:'ws_m', 'https://fast.example.test/') returning id as fast \gset
insert into public.webhook_deliveries (workspace_id, endpoint_id, event, event_id, payload)
select w, e, 'message.received', gen_random_uuid(), '{}'
  from (values (:'ws'::uuid, :'slow_a'::uuid, 1), (:'ws', :'slow_b', 2), (:'ws_m', :'fast', 3)) v(w, e, k),
       generate_series(1, 5)
 order by k;
select tests.authenticate_as_service_role();
create temp table first_claim as select * from private.claim_webhook_deliveries(10, 60, 2, 3, '{}');
select results_eq($$ select endpoint_id, count(*)::int from first_claim group by 1 order by 2 desc, 1 $$,
  format($$ values (%L::uuid, 2), (%L::uuid, 2), (%L::uuid, 1) $$,
         least(:'slow_a'::uuid, :'fast'::uuid), greatest(:'slow_a'::uuid, :'fast'::uuid), :'slow_b'),
  'at most 2 per endpoint and 3 per workspace, the oldest first: the other workspace gets its own');
select is((select count(*)::int from private.claim_webhook_deliveries(10, 60, 2, 3, array(select endpoint_id from first_claim))),
  0, 'with every slot taken by the caller''s deliveries in flight, nothing more is claimed');
select array(select endpoint_id from first_claim where delivery_id <> (select min(delivery_id) from first_claim))
  as still_in_flight \gset
select is(array(select endpoint_id from private.claim_webhook_deliveries(10, 60, 2, 3, :'still_in_flight')),
  array[:'slow_a'::uuid], 'one delivery done frees one slot of its workspace');
select is((select count(*)::int from private.claim_webhook_deliveries(50, 60)), 9, 'without slots, everything due is claimed');
select private.complete_webhook_delivery((select min(delivery_id) from first_claim), true, 200, null, repeat('x', 5000));
select tests.clear_authentication();
select is((select char_length(last_response_excerpt) from public.webhook_deliveries
            where id = (select min(delivery_id) from first_claim)), 1024, 'the response excerpt kept is capped');

select * from finish();
rollback;
