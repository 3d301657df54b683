-- The inbox lists a workspace's conversations newest first, through PostgREST:
--   GET /conversations?workspace_id=eq.<ws>&order=last_message_at.desc&limit=50
-- (supabase-js: .order('last_message_at', { ascending: false })). PostgREST renders that as
-- ORDER BY last_message_at DESC, which PostgreSQL sorts NULLS FIRST. conversations_inbox_idx
-- was built DESC NULLS LAST, so it could not give that order: every inbox load fetched and
-- sorted all of the workspace's conversations, a cost growing with the workspace
-- (bench/inbox_query.py, 1,000 conversations per workspace: bitmap scan + top-N sort,
-- ~850 buffers, p50 2.7 ms; as an ordered index scan stopping at 50 rows: ~55 buffers).
-- Rebuilt in the order the client asks for. A conversation's last_message_at is set in the
-- transaction that creates it, so nulls first or last changes no result; `.asc` is served by
-- the same index scanned backwards.

drop index public.conversations_inbox_idx;
create index conversations_inbox_idx on public.conversations (workspace_id, last_message_at desc);
comment on index public.conversations_inbox_idx is
  'The inbox: a workspace''s conversations by last_message_at DESC (NULLS FIRST), the order PostgREST '
  'sends for order=last_message_at.desc.';
