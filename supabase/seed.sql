-- Demo data for local runs (`make dev`, `supabase start`); never applied in production.
-- The signup trigger turns this user into a profile and a personal workspace. The demo
-- workspace's Twilio credentials are stored by `numeraloop dev`, which holds the key.

insert into auth.users (id, email, raw_user_meta_data, aud, role, email_confirmed_at)
values ('00000000-0000-4000-8000-00000000d3e0', 'demo@numeraloop.local',
        '{"full_name": "Demo Owner"}', 'authenticated', 'authenticated', now())
on conflict (id) do nothing;

update public.workspaces set name = 'Demo Plumbing Co'
 where created_by = '00000000-0000-4000-8000-00000000d3e0' and is_personal and name <> 'Demo Plumbing Co';
