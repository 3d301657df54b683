-- render_template: contact variables, custom fields, extras, fallbacks; another
-- workspace's contact renders as unknown.
begin;
select plan(16);

select tests.create_user('alice');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset

insert into public.contacts (workspace_id, phone_e164, first_name, last_name, email, custom_fields)
values (:'ws', '+15551230001', 'Ann', 'Lee', 'ann@example.test', '{"plan": "gold", "visits": 3}')
returning id as ann \gset
insert into public.contacts (workspace_id, phone_e164) values (:'ws', '+15551230002')
returning id as nameless \gset

select tests.authenticate_as('alice');
select is(public.render_template('Hi {{first_name}}!', :'ann'), 'Hi Ann!', 'first_name');
select is(public.render_template('{{last_name}}, {{full_name}}', :'ann'), 'Lee, Ann Lee', 'last_name and full_name');
select is(public.render_template('{{phone}} / {{email}}', :'ann'), '+15551230001 / ann@example.test', 'phone and email');
select is(public.render_template('Plan {{custom.plan}}, {{custom.visits}} visits', :'ann'), 'Plan gold, 3 visits',
  'custom fields');
select is(public.render_template('{{  first_name   }} {{ first_name | there }}', :'ann'), 'Ann Ann',
  'whitespace inside the braces is ignored');
select is(public.render_template('Hi {{first_name|there}}', :'nameless'), 'Hi there', 'fallback for a missing value');
select is(public.render_template('Hi {{ first_name | my friend }}!', :'nameless'), 'Hi my friend!',
  'fallback with spaces inside');
select is(public.render_template('Hi {{first_name}}.', :'nameless'), 'Hi .', 'missing value without fallback renders empty');
select is(public.render_template('{{full_name|Customer}}', :'nameless'), 'Customer', 'full_name falls back when both names are missing');
select is(public.render_template('{{nonsense}}{{custom.nope|-}}', :'ann'), '-', 'unknown keys render their fallback or nothing');
select is(public.render_template('Use {{code}} by {{ deadline | Friday }}', :'ann', '{"code": "SAVE10"}'),
  'Use SAVE10 by Friday', 'keys from p_extra');
select is(public.render_template('{{first_name}}', :'ann', '{"first_name": "Annie"}'), 'Annie', 'p_extra wins over contact fields');
select is(public.render_template('Hi {{first_name|there}}', null, '{}'), 'Hi there', 'no contact: fallbacks');
select is(public.render_template('{x} {{ not closed', :'ann'), '{x} {{ not closed', 'text that is not a placeholder stays');

-- Substituted values are not expanded again.
select tests.clear_authentication();
update public.contacts set first_name = '{{email}}' where id = :'ann';
select tests.authenticate_as('alice');
select is(public.render_template('Hi {{first_name}}', :'ann'), 'Hi {{email}}', 'values are inserted literally, never re-expanded');

-- RLS applies: an outsider renders Ann as unknown.
select tests.authenticate_as('mallory');
select is(public.render_template('Hi {{first_name|there}} {{phone}}', :'ann'), 'Hi there ',
  'a contact of another workspace renders as unknown');

select * from finish();
rollback;
