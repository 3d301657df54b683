-- Security-definer triggers tell a caller nothing about a workspace they may not write to: a
-- write into someone else's workspace is refused as a permission error (42501), never with a
-- trigger's answer about that workspace (its plan and member count from the seat limit, which
-- of its ids are lists from the campaign check). The checks still hold for those who may write.
begin;
select plan(15);

select tests.create_user('alice');    -- owner of workspace A (free plan: 2 seats)
select tests.create_user('bob');      -- agent in A
select tests.create_user('carol');    -- nobody's colleague yet
select tests.create_user('mallory');  -- outsider
select tests.personal_workspace('alice') as ws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('definer-a'), '+15550006666')
returning id as num \gset
insert into public.contact_lists (workspace_id, name) values (:'ws', 'VIP') returning id as list \gset

-- What a statement's error says: SQLSTATE, message and detail (null when it raises nothing).
create function pg_temp.error_of(statement text) returns jsonb language plpgsql as $$
declare
  v_state text;
  v_message text;
  v_detail text;
begin
  execute statement;
  return null;
exception when others then
  get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_detail = pg_exception_detail;
  return jsonb_build_object('sqlstate', v_state, 'message', v_message, 'detail', nullif(v_detail, ''));
end
$$;

-- Refused as a permission error, and the words carry nothing about the workspace: no plan, no count.
create function pg_temp.reveals_nothing(e jsonb) returns boolean language sql as $$
  select e ->> 'sqlstate' = '42501' and e -> 'detail' = 'null'::jsonb
     and e ->> 'message' !~* '(plan|seat|free|starter|pro\M|list|[0-9])'
$$;

-- ---------------------------------------------------------------------------------------
-- Seats: A is full (2 of 2).

select tests.authenticate_as('mallory');
select pg_temp.error_of(format($$ insert into public.workspace_members (workspace_id, user_id, role)
                                  values (%L, %L, 'agent') $$, :'ws', tests.user_id('carol'))) as e \gset
select tests.clear_authentication();
select ok(pg_temp.reveals_nothing(:'e'),
  'an outsider adding a member to a full workspace gets 42501, not its plan and member count: ' || :'e');

select tests.authenticate_as('bob');
select pg_temp.error_of(format($$ insert into public.workspace_members (workspace_id, user_id, role)
                                  values (%L, %L, 'agent') $$, :'ws', tests.user_id('carol'))) as e \gset
select tests.clear_authentication();
select ok(pg_temp.reveals_nothing(:'e'),
  'so does an agent of the workspace, who may not add members: ' || :'e');

select tests.authenticate_as_service_role();
select pg_temp.error_of(format($$ insert into public.workspace_members (workspace_id, user_id, role)
                                  values (%L, %L, 'agent') $$, :'ws', tests.user_id('carol'))) as e \gset
select tests.clear_authentication();
select is(:'e'::jsonb ->> 'sqlstate', 'P0402', 'a writer allowed to add members still meets the seat limit');
select is((:'e'::jsonb ->> 'detail')::jsonb, '{"limit_name": "seats", "limit": 2, "used": 2, "plan": "free"}'::jsonb,
  '... with limit, used and plan in the detail');
select lives_ok(format($$ insert into public.workspace_members (workspace_id, user_id, role) values (%L, %L, 'agent')
                          on conflict do nothing $$, :'ws', tests.user_id('bob')),
  're-adding an existing member of a full workspace stays a no-op');
select is((select count(*)::int from public.workspace_members where workspace_id = :'ws'), 2, 'A still has its 2 members');
select tests.authenticate_as('carol');
select lives_ok($$ select public.create_workspace('Fresh') $$, 'a new workspace''s first member always gets in');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Campaigns: which ids are A's lists, and A's media rules, are A's business.

select tests.authenticate_as('mallory');
select ok(pg_temp.reveals_nothing(pg_temp.error_of(format(
    $$ insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids) values (%L, 'x', %L, 'hi', array[%L]::uuid[]) $$,
    :'ws', :'num', gen_random_uuid()))),
  'an outsider''s campaign naming an unknown list in another workspace is refused as 42501');
select ok(pg_temp.reveals_nothing(pg_temp.error_of(format(
    $$ insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids) values (%L, 'x', %L, 'hi', array[%L]::uuid[]) $$,
    :'ws', :'num', :'list'))),
  '... exactly as one naming its real list');
select ok(pg_temp.reveals_nothing(pg_temp.error_of(format(
    $$ insert into public.campaigns (workspace_id, name, phone_number_id, body, media_urls) values (%L, 'x', %L, 'hi', '{ftp://x}') $$,
    :'ws', :'num'))),
  '... and as one with bad media');
select tests.clear_authentication();

select tests.authenticate_as('alice');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids)
                           values (%L, 'x', %L, 'hi', array[%L]::uuid[]) $$, :'ws', :'num', gen_random_uuid()),
  '23503', 'list_ids must name lists of the campaign''s workspace', 'the workspace''s admin still gets the list check');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body, media_urls)
                           values (%L, 'x', %L, 'hi', '{ftp://x}') $$, :'ws', :'num'),
  '22023', 'media_urls must be http(s) URLs', '... and the media check');
insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids)
values (:'ws', 'Spring', :'num', 'hi', array[:'list'::uuid]) returning id as campaign \gset
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Messages and launches: no client writes them directly, and the functions check the caller first.

select tests.authenticate_as('mallory');
select ok(pg_temp.reveals_nothing(pg_temp.error_of(format(
    $$ insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status, source)
       values (%L, gen_random_uuid(), 'outbound', '+15550006666', '+15551230001', 'hi', 'queued', 'manual') $$, :'ws'))),
  'an outsider inserting a message into another workspace gets 42501 before the monthly-message check');
select is(pg_temp.error_of(format('select public.launch_campaign(%L)', :'campaign')),
  '{"sqlstate": "P0002", "message": "no such campaign", "detail": null}'::jsonb,
  'launching another workspace''s campaign: no such campaign, nothing about its allowance');
select tests.clear_authentication();

select is((select count(*)::int from public.campaigns where workspace_id = :'ws'), 1, 'A has only its own campaign');

select * from finish();
rollback;
