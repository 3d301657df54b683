-- export_my_data() holds everything the caller can read, as RLS shows it to them: their own
-- access log (nobody else's), and per workspace its imports, campaigns and recipients, canned
-- messages, keyword triggers, auto-replies, routing rules, webhook endpoints (never their
-- secret), audit log and billing; admin-only tables are empty for an agent; a table the caller
-- has no SELECT grant on is an empty list, not an error; another workspace never appears.
begin;
select plan(17);

-- Alice owns her personal workspace, where Bob is an agent. Dave is in his own.
select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('dave');
select tests.user_id('alice') as alice, tests.personal_workspace('alice') as alice_ws,
       tests.user_id('dave') as dave, tests.personal_workspace('dave') as dave_ws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'alice_ws', tests.user_id('bob'), 'agent');

-- A row in every table the export gained, in a workspace, each naming a marker.
create function pg_temp.add_records(ws uuid, e164 text, marker text) returns void
language plpgsql as $$
declare
  num uuid;
  list uuid;
  campaign uuid;
  customer text := 'cus_' || replace(marker, '-', '');
begin
  insert into public.phone_numbers (workspace_id, twilio_sid, e164)
  values (ws, 'PN' || md5(marker), e164) returning id into num;
  insert into public.contact_lists (workspace_id, name) values (ws, marker || ' list') returning id into list;
  insert into public.contact_imports (workspace_id, filename, consent_source, list_id, status, finished_at)
  values (ws, marker || '.csv', 'paper form', list, 'completed', now());
  insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids)
  values (ws, marker || ' campaign', num, 'hi', array[list]) returning id into campaign;
  insert into public.campaign_recipients (workspace_id, campaign_id, phone_e164, status)
  values (ws, campaign, '+14155550401', 'canceled');
  insert into public.canned_messages (workspace_id, title, body) values (ws, marker || ' canned', 'body');
  insert into public.keyword_triggers (workspace_id, keyword, reply_text) values (ws, 'JOIN', marker || ' reply');
  insert into public.auto_reply_rules (workspace_id, kind, reply_text) values (ws, 'always', marker || ' auto');
  insert into public.call_routing_rules (workspace_id, phone_number_id, name, action) values (ws, num, marker, 'voicemail');
  insert into public.webhook_endpoints (workspace_id, url, description)
  values (ws, 'https://hooks.example.com/' || marker, marker || ' endpoint');
  perform private.write_audit_log(ws, null, 'test.marker', 'workspace', ws::text, jsonb_build_object('m', marker), null);
  insert into public.billing_customers (workspace_id, stripe_customer_id) values (ws, customer);
  insert into public.subscriptions (workspace_id, stripe_subscription_id, stripe_customer_id, status, stripe_updated)
  values (ws, 'sub_' || replace(marker, '-', ''), customer, 'active', now());
  insert into public.invoices (workspace_id, stripe_invoice_id, stripe_customer_id, status, currency, stripe_created, stripe_updated)
  values (ws, 'in_' || replace(marker, '-', ''), customer, 'paid', 'usd', now(), now());
  insert into public.payment_methods (workspace_id, stripe_payment_method_id, stripe_customer_id, brand, last4, stripe_updated)
  values (ws, 'pm_' || replace(marker, '-', ''), customer, 'visa', '4242', now());
end
$$;
select pg_temp.add_records(:'alice_ws', '+61491570201', 'alicemarker');
select pg_temp.add_records(:'dave_ws', '+61491570202', 'davemarker');
select private.write_access_log(:'alice', 'GET', '/api/v1/me/deletion', 200, '192.0.2.1', 'pgtap', 'alice-1');
select private.write_access_log(:'alice', 'GET', '/api/v1/me/export', 200, '192.0.2.1', 'pgtap', 'alice-2');
select private.write_access_log(:'dave', 'GET', '/api/v1/me/deletion', 200, '192.0.2.9', 'pgtap', 'dave-1');

create temporary table member_tables (t text) on commit drop;
insert into member_tables values ('contact_imports'), ('campaigns'), ('campaign_recipients'), ('canned_messages'),
  ('keyword_triggers'), ('auto_reply_rules'), ('call_routing_rules'), ('billing_customers'), ('subscriptions');
create temporary table admin_tables (t text) on commit drop;
insert into admin_tables values ('invoices'), ('payment_methods'), ('webhook_endpoints'), ('audit_log');
grant select on member_tables, admin_tables to authenticated;

-- ---------------------------------------------------------------------------------------
-- Alice, the owner
select tests.authenticate_as('alice');
select public.export_my_data() as doc \gset
select tests.clear_authentication();
create temporary table alice_ws_export on commit drop as
  select w from jsonb_array_elements(:'doc'::jsonb -> 'workspaces') w where w ->> 'id' = :'alice_ws';

select results_eq(format($$ select a ->> 'request_id' from jsonb_array_elements(%L::jsonb -> 'access_log') a $$, :'doc'),
  array['alice-1', 'alice-2'], 'the export holds the caller''s own access log');
select ok(position('dave-1' in :'doc') = 0 and position(:'dave' in :'doc') = 0,
  'and nothing of another user''s');
select is_empty($$ select t from member_tables, alice_ws_export where jsonb_array_length(w -> t) <> 1
                  union all
                  select t from admin_tables, alice_ws_export where jsonb_array_length(w -> t) < 1 $$,
  'an owner''s export holds every workspace table, billing included');
select is((select w #>> '{invoices,0,stripe_invoice_id}' from alice_ws_export), 'in_alicemarker',
  'with the workspace''s invoices');
select is((select w #>> '{webhook_endpoints,0,description}' from alice_ws_export), 'alicemarker endpoint',
  'and its webhook endpoints');
select is((select count(*)::int from jsonb_path_query(:'doc'::jsonb, 'strict $.**') v
            where jsonb_typeof(v) = 'object' and v ? 'secret'), 0,
  'no object anywhere in the export has a secret key');
select ok(position('whsec_' in :'doc') = 0, 'and no signing secret appears in it');
select ok(position('davemarker' in :'doc') = 0 and position(:'dave_ws' in :'doc') = 0,
  'nothing of another workspace appears anywhere in it');
select is((select details -> 'counts' from public.audit_log where action = 'data.export' and actor_user_id = :'alice'
            order by id desc limit 1) @> '{"access_log": 2, "campaigns": 1, "invoices": 1, "webhook_endpoints": 1}',
  true, 'the recorded counts cover the new tables');

-- ---------------------------------------------------------------------------------------
-- Bob, an agent in Alice's workspace
select tests.authenticate_as('bob');
select public.export_my_data() as bob_doc \gset
select tests.clear_authentication();
create temporary table bob_view on commit drop as
  select w from jsonb_array_elements(:'bob_doc'::jsonb -> 'workspaces') w where w ->> 'id' = :'alice_ws';

select is_empty($$ select t from member_tables, bob_view where jsonb_array_length(w -> t) <> 1 $$,
  'an agent''s export holds what members read: imports, campaigns, automations, routing, subscription');
select is_empty($$ select t from admin_tables, bob_view where w -> t <> '[]'::jsonb $$,
  'and no invoices, payment methods, webhook endpoints or audit log (admins only)');
select is(jsonb_array_length(:'bob_doc'::jsonb -> 'access_log'), 0, 'nor anyone else''s access log');
select ok(position('davemarker' in :'bob_doc') = 0, 'nor anything of another workspace');

-- ---------------------------------------------------------------------------------------
-- A table the caller may not SELECT at all is an empty list, not an error
revoke select on public.canned_messages from authenticated;
select tests.authenticate_as('alice');
select lives_ok($$ select public.export_my_data() $$, 'the export runs without a grant on one of its tables');
select is((select w -> 'canned_messages' from jsonb_array_elements(public.export_my_data() -> 'workspaces') w
            where w ->> 'id' = :'alice_ws'), '[]'::jsonb, 'that table is exported as an empty list');
select is((select w #>> '{campaigns,0,name}' from jsonb_array_elements(public.export_my_data() -> 'workspaces') w
            where w ->> 'id' = :'alice_ws'), 'alicemarker campaign', 'and the rest as before');

select tests.authenticate_as_anon();
select throws_ok($$ select private.export_rows('contacts', 'workspace_id', gen_random_uuid(), 'created_at') $$,
  '42501', null, 'anon cannot call the export helper');

select * from finish();
rollback;
