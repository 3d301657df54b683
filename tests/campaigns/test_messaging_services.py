"""Campaigns through a Twilio Messaging Service: Twilio picks each message's sender from the
service's pool (sticky per recipient), and a reply to any number of the pool, even one NumeraLoop
does not list, is accepted and stored under the workspace, never refused with a 403."""

from __future__ import annotations

import uuid

from numeraloop.twilio.client import make_twilio_client

from .conftest import add_contacts, create_campaign, recipients, run_until


def twilio(inbox, sandbox):
    return make_twilio_client(
        inbox.account["sid"], inbox.account["sid"], inbox.account["auth_token"], sandbox.api_base_url
    )


def test_a_campaign_sends_through_a_messaging_service_pool_sticky_per_recipient(
    service, inbox, sandbox, db, database_url, sender
):
    client = twilio(inbox, sandbox)
    pool_only = "+1415666" + str(uuid.uuid4().int % 10000).zfill(4)  # a pool number NumeraLoop does not list
    extra = sandbox.add_number(inbox.account["sid"], pool_only)
    ms = client.messaging.v1.services.create(
        friendly_name="Spring", sticky_sender=True, inbound_request_url=service.base_url + "/twilio/messaging/inbound"
    )
    ours = next(
        n
        for n in client.api.v2010.accounts(inbox.account["sid"]).incoming_phone_numbers.list()
        if n.phone_number == inbox.e164
    )
    for sid in (ours.sid, extra["sid"]):
        client.messaging.v1.services(ms.sid).phone_numbers.create(phone_number_sid=sid)

    tag = f"ms-{uuid.uuid4().hex[:8]}"
    numbers = add_contacts(db, inbox.workspace_id, 4, tags=[tag])
    senders = {}
    for round_ in (1, 2):
        campaign = create_campaign(
            database_url,
            inbox.user,
            workspace_id=inbox.workspace_id,
            name=f"MS {round_}",
            phone_number_id=inbox.number["id"],
            body=f"Round {round_}",
            include_tags=[tag],
            send_rate=50,
            messaging_service_sid=ms.sid,
        )
        assert service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user).status_code == 201
        assert run_until(sender, lambda: all(r["status"] == "sent" for r in recipients(db, campaign).values()))
        for number in numbers:
            (sent,) = [
                m
                for m in sandbox.messages(account_sid=inbox.account["sid"], to=number)
                if m["body"] == f"Round {round_}"
            ]
            assert sent["messaging_service_sid"] == ms.sid and "From" not in sent["params"]
            assert sent["from"] in {inbox.e164, pool_only}
            senders.setdefault(number, sent["from"])
            assert sent["from"] == senders[number], "sticky sender: the same number texts the same person"
    assert set(senders.values()) == {inbox.e164, pool_only}, "the pool shares the recipients"

    # A message Twilio sent from the listed number sits in that number's conversation.
    listed = next(n for n, f in senders.items() if f == inbox.e164)
    row = db.execute(
        "select m.from_e164, c.phone_number_id from public.campaign_recipients r "
        "join public.messages m on m.id = r.message_id join public.conversations c on c.id = "
        "m.conversation_id where r.campaign_id = %s and r.phone_e164 = %s",
        (campaign, listed),
    ).fetchone()
    assert (row["from_e164"], str(row["phone_number_id"])) == (inbox.e164, inbox.number["id"])

    # A reply to the pool number NumeraLoop does not list reaches the workspace.
    replier = next(n for n, f in senders.items() if f == pool_only)
    answer = sandbox.inject_sms(replier, pool_only, "Yes please")
    assert answer["status"] == 200, answer
    stored = db.execute(
        "select m.workspace_id, m.to_e164, c.phone_number_id from public.messages m "
        "join public.conversations c on c.id = m.conversation_id "
        "where m.direction = 'inbound' and m.from_e164 = %s and m.body = 'Yes please'",
        (replier,),
    ).fetchone()
    assert str(stored["workspace_id"]) == inbox.workspace_id and stored["to_e164"] == pool_only
    assert str(stored["phone_number_id"]) == inbox.number["id"]


def test_a_text_naming_a_service_the_workspace_never_used_is_still_refused(service, inbox, sandbox):
    client = twilio(inbox, sandbox)
    unknown = "+1415667" + str(uuid.uuid4().int % 10000).zfill(4)
    extra = sandbox.add_number(inbox.account["sid"], unknown)
    ms = client.messaging.v1.services.create(
        friendly_name="Never used", inbound_request_url=service.base_url + "/twilio/messaging/inbound"
    )
    client.messaging.v1.services(ms.sid).phone_numbers.create(phone_number_sid=extra["sid"])
    answer = sandbox.inject_sms("+14155550142", unknown, "Hi")
    assert answer["status"] == 403
