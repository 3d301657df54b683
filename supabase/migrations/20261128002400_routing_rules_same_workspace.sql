-- A routing rule's number must be in the rule's workspace. Enforced by a composite foreign
-- key instead of the earlier BEFORE trigger: a trigger runs before RLS, so its error told a
-- non-member whether a number id belonged to a workspace; a foreign key is checked after
-- RLS has already refused the row.

drop trigger tg_call_routing_rules__same_workspace on public.call_routing_rules;
drop function private.tg_call_routing_rules__same_workspace();

alter table public.call_routing_rules drop constraint call_routing_rules_phone_number_id_fkey;
alter table public.call_routing_rules
  add constraint call_routing_rules_phone_number_in_workspace
  foreign key (workspace_id, phone_number_id) references public.phone_numbers (workspace_id, id) on delete cascade;
