-- Demo data for local runs (`make dev`, `supabase start`); never applied in production.
-- The signup trigger turns this user into a profile and a personal workspace. The demo
-- workspace's Twilio credentials are stored by `numeraloop dev`, which holds the key.

-- Its password is "numeraloop-demo", hashed as GoTrue stores passwords (bcrypt, cost 10), so
-- the demo owner signs in to the web application like anyone else.
insert into auth.users (id, email, encrypted_password, raw_user_meta_data, aud, role, email_confirmed_at)
values ('00000000-0000-4000-8000-00000000d3e0', 'demo@numeraloop.local',
        extensions.crypt('numeraloop-demo', extensions.gen_salt('bf', 10)),
        '{"full_name": "Demo Owner"}', 'authenticated', 'authenticated', now())
on conflict (id) do update set encrypted_password = excluded.encrypted_password
 where auth.users.encrypted_password is null;

-- The demo owner is an adult; the web application asks everyone else at sign-up.
update public.profiles set age_confirmed_at = now()
 where id = '00000000-0000-4000-8000-00000000d3e0' and age_confirmed_at is null;

update public.workspaces set name = 'Demo Plumbing Co'
 where created_by = '00000000-0000-4000-8000-00000000d3e0' and is_personal and name <> 'Demo Plumbing Co';
