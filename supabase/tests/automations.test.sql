-- Keyword triggers and auto-reply rules: replies, tags and lists, first message / always /
-- outside business hours, the per-contact cooldown, never a reply to an opted-out number;
-- admins write the rules, members read them, other workspaces neither.
begin;
select plan(47);

-- An inbound text from `sender` at `at`; returns the bodies of the replies.
create function pg_temp.inbound(sender text, body text, at timestamptz) returns text[] language sql as $$
  select coalesce(array_agg(r ->> 'body'), '{}')
    from jsonb_array_elements(private.receive_inbound_message(
           tests.personal_workspace('alice'), (select id from public.phone_numbers where e164 = '+15550001111'),
           'SM' || md5(sender || body || at::text), sender, '+15550001111', body, 1, '[]', at) -> 'replies') r
$$;

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
update public.workspaces set timezone = 'America/New_York' where id = :'ws';
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('alice-1'), '+15550001111');
insert into public.contact_lists (workspace_id, name) values (:'ws', 'Members') returning id as list_id \gset

-- ---------------------------------------------------------------------------------------
-- Admins write rules; agents read them.
select tests.authenticate_as('alice');
select lives_ok(format($$ insert into public.keyword_triggers (workspace_id, keyword, reply_text, add_tag, add_to_list_id)
                          values (%L, 'Join', 'Welcome {{first_name|friend}}!', 'member', %L) $$, :'ws', :'list_id'),
  'an admin creates a keyword trigger');
select throws_ok(format($$ insert into public.keyword_triggers (workspace_id, keyword, reply_text) values (%L, 'stop', 'x') $$, :'ws'),
  '23514', null, 'carrier keywords are reserved');
select throws_ok(format($$ insert into public.keyword_triggers (workspace_id, keyword, reply_text) values (%L, 'JOIN', 'x') $$, :'ws'),
  '23505', null, 'one trigger per keyword, whatever the case');
select throws_ok(format($$ insert into public.auto_reply_rules (workspace_id, kind, reply_text, business_hours)
                          values (%L, 'outside_business_hours', 'x', '{"mon": [["17:00", "09:00"]]}') $$, :'ws'),
  '23514', null, 'business hours must be well formed');
select throws_ok(format($$ insert into public.auto_reply_rules (workspace_id, kind, reply_text, cooldown_minutes)
                          values (%L, 'always', 'x', 0) $$, :'ws'),
  '23514', null, 'a cooldown is at least a minute, so responders cannot loop');
select tests.authenticate_as('bob');
select is((select count(*)::int from public.keyword_triggers), 1, 'an agent reads the triggers');
select is(tests.attempt(format($$ insert into public.keyword_triggers (workspace_id, keyword, reply_text) values (%L, 'DEAL', 'x') $$, :'ws')),
  'denied', 'an agent cannot create triggers');
select is(tests.attempt($$ update public.keyword_triggers set reply_text = 'changed' $$), 'rows:0', 'an agent cannot edit triggers');
select is(tests.attempt(format($$ insert into public.auto_reply_rules (workspace_id, kind, reply_text) values (%L, 'always', 'x') $$, :'ws')),
  'denied', 'an agent cannot create auto-reply rules');

-- ---------------------------------------------------------------------------------------
-- Keyword triggers
select tests.clear_authentication();
select is(pg_temp.inbound('+15551230001', ' join ', '2026-12-01 15:00+00'), array['Welcome friend!'],
  'a keyword (any case, trimmed) gets its reply, rendered for the contact');
select is((select tags from public.contacts where phone_e164 = '+15551230001'), array['member'], 'and tags the contact');
select is((select count(*)::int from public.contact_list_members m join public.contacts c on c.id = m.contact_id
            where c.phone_e164 = '+15551230001' and m.list_id = :'list_id'), 1, 'and adds them to the list');
update public.contacts set first_name = 'Ann' where phone_e164 = '+15551230001';
select is(pg_temp.inbound('+15551230001', 'JOIN', '2026-12-01 15:01+00'), array['Welcome Ann!'], 'a keyword replies every time');
select is((select tags from public.contacts where phone_e164 = '+15551230001'), array['member'], 'the tag is not added twice');
select is((select source from public.messages where body = 'Welcome Ann!'), 'keyword', 'keyword replies are marked keyword');
select is(pg_temp.inbound('+15551230001', 'join now', '2026-12-01 15:02+00'), '{}'::text[], 'only the whole body matches');
update public.keyword_triggers set is_active = false;
select is(pg_temp.inbound('+15551230001', 'join', '2026-12-01 15:03+00'), '{}'::text[], 'an inactive trigger does nothing');
update public.keyword_triggers set is_active = true;
select private.record_opt_out(:'ws', '+15551230002', 'manual');
select is(pg_temp.inbound('+15551230002', 'JOIN', '2026-12-01 15:04+00'), '{}'::text[], 'an opted-out number gets no keyword reply');
select is((select tags from public.contacts where phone_e164 = '+15551230002'), array['member'], 'but is still tagged');

-- ---------------------------------------------------------------------------------------
-- first_message
insert into public.auto_reply_rules (workspace_id, kind, reply_text, priority)
values (:'ws', 'first_message', 'Thanks for reaching out, {{first_name|there}}!', 10);
select is(pg_temp.inbound('+15551230003', 'hello?', '2026-12-01 15:00+00'), array['Thanks for reaching out, there!'],
  'the first message ever from a contact gets the first_message reply');
select is(pg_temp.inbound('+15551230003', 'anyone?', '2026-12-01 18:00+00'), '{}'::text[], 'the second does not');
select is(pg_temp.inbound('+15551230001', 'question', '2026-12-01 18:00+00'), '{}'::text[],
  'a contact who texted before is not new');
select is(pg_temp.inbound('+15551230002', 'hi', '2026-12-01 18:00+00'), '{}'::text[], 'an opted-out number gets no auto reply');
select is((select source from public.messages where body like 'Thanks for reaching out%'), 'auto_reply',
  'auto replies are marked auto_reply');

-- always, with the cooldown
update public.auto_reply_rules set is_active = false;
insert into public.auto_reply_rules (workspace_id, kind, reply_text, cooldown_minutes) values (:'ws', 'always', 'Got it.', 60);
select is(pg_temp.inbound('+15551230004', 'one', '2026-12-02 12:00+00'), array['Got it.'], 'an always rule replies');
select is(pg_temp.inbound('+15551230004', 'two', '2026-12-02 12:00:01+00'), '{}'::text[], 'not again within the cooldown');
select is(pg_temp.inbound('+15551230004', 'three', '2026-12-02 12:59+00'), '{}'::text[], 'still not at 59 minutes');
select is(pg_temp.inbound('+15551230004', 'four', '2026-12-02 13:01+00'), array['Got it.'], 'again after the cooldown');
-- Another auto-responder answering every message: our side replies once per cooldown, so no loop.
select is((select count(*)::int from generate_series(1, 20) i
            where cardinality(pg_temp.inbound('+15551230005', 'Auto: thanks for your message', '2026-12-02 14:00+00'::timestamptz + i * interval '1 second')) > 0),
  1, 'twenty texts from a bot within a minute get one reply');

-- outside business hours (America/New_York, weekdays 9 to 5)
update public.auto_reply_rules set is_active = false;
insert into public.auto_reply_rules (workspace_id, kind, reply_text, business_hours, cooldown_minutes)
values (:'ws', 'outside_business_hours', 'We are closed; back at 9.',
        '{"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
          "thu": [["09:00", "17:00"]], "fri": [["09:00", "12:00"], ["13:00", "17:00"]]}', 5);
select is(pg_temp.inbound('+15551230006', 'open?', '2026-12-01 15:00+00'), '{}'::text[],
  'no reply during business hours (Tuesday 10:00 in New York)');
select is(pg_temp.inbound('+15551230006', 'open?', '2026-12-01 23:30+00'), array['We are closed; back at 9.'],
  'a reply after hours (Tuesday 18:30 in New York)');
select is(pg_temp.inbound('+15551230006', 'open?', '2026-12-04 17:30+00'), array['We are closed; back at 9.'],
  'a reply in the Friday lunch break (12:30 in New York)');
select is(pg_temp.inbound('+15551230006', 'open?', '2026-12-05 15:00+00'), array['We are closed; back at 9.'],
  'a reply on Saturday');
select is(private.is_within_business_hours('{"wed": [["00:00", "24:00"]]}', 'America/New_York', '2026-12-03 03:00+00'), true,
  'hours are read in the workspace timezone (Thursday 03:00 UTC is Wednesday 22:00 in New York)');
select is(private.is_within_business_hours('{"wed": [["00:00", "24:00"]]}', 'Not/AZone', '2026-12-03 03:00+00'), false,
  'an unknown timezone reads as UTC');

-- The first applicable rule by priority decides.
insert into public.auto_reply_rules (workspace_id, kind, reply_text, priority) values (:'ws', 'always', 'Always first.', 1);
select is(pg_temp.inbound('+15551230007', 'x', '2026-12-05 15:00+00'), array['Always first.'], 'rules are tried by priority');

-- ---------------------------------------------------------------------------------------
-- Another workspace's member, and anon
select tests.authenticate_as('mallory');
select is_empty(format($$ select 1 from public.keyword_triggers where workspace_id = %L $$, :'ws'), 'outsider reads no triggers');
select is(tests.attempt(format($$ insert into public.keyword_triggers (workspace_id, keyword, reply_text) values (%L, 'EVIL', 'x') $$, :'ws')),
  'denied', 'outsider cannot add triggers');
select is(tests.attempt($$ update public.keyword_triggers set reply_text = 'pwned' $$), 'rows:0', 'outsider cannot edit triggers');
select is(tests.attempt($$ delete from public.keyword_triggers $$), 'rows:0', 'outsider cannot delete triggers');
select is_empty(format($$ select 1 from public.auto_reply_rules where workspace_id = %L $$, :'ws'), 'outsider reads no rules');
select is(tests.attempt(format($$ insert into public.auto_reply_rules (workspace_id, kind, reply_text) values (%L, 'always', 'spam') $$, :'ws')),
  'denied', 'outsider cannot add rules');
select is(tests.attempt($$ update public.auto_reply_rules set reply_text = 'pwned' $$), 'rows:0', 'outsider cannot edit rules');
select is(tests.attempt($$ delete from public.auto_reply_rules $$), 'rows:0', 'outsider cannot delete rules');
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.keyword_triggers $$, '42501', null, 'anon cannot read triggers');
select throws_ok($$ select 1 from public.auto_reply_rules $$, '42501', null, 'anon cannot read rules');

select tests.clear_authentication();
select is((select count(*)::int from public.auto_reply_rules where reply_text = 'pwned' or reply_text = 'spam'), 0,
  'the rules are as the admins left them');

select * from finish();
rollback;
