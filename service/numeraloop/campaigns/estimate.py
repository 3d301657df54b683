"""GET /api/v1/campaigns/{id}/estimate (members): what a campaign would send before it is sent,
and GET /api/v1/campaigns/{id}/report.csv (members): each recipient's outcome, for a spreadsheet.

The estimate renders every recipient's body with the same SQL template function the send uses
(public.campaign_estimate_rows: a draft's audience as launching it now would snapshot it, else
the snapshot), counts its segments and encoding the way carriers do (messaging/segments.py),
prices them per destination country (public.message_prices: the workspace's own prices, else the
defaults) and warns about what makes a message dearer than it looks: the characters that force
UCS-2 (70 characters a segment instead of 160), each with the GSM-7 character that reads the same,
and how many segments the campaign's `transliterate` option would save. Numbers skipped: opted
out, and numbers that are not valid phone numbers (Twilio would refuse them, 21211).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter, defaultdict
from decimal import Decimal

import phonenumbers
import psycopg
from flask import Blueprint, Response, g, jsonify

from ..db import as_user, current_pool
from ..errors import ApiError
from ..messaging.error_codes import meaning
from ..messaging.segments import count, transliterate, ucs2_characters

bp = Blueprint("campaign_estimates", __name__)

SKIPPED = {
    "skipped_opted_out": "opted_out",
    "skipped_removed": "removed",
    "skipped_unreachable": "unreachable",
    "canceled": "canceled",
}
CSV_FIELDS = (
    "phone_number",
    "status",
    "message_status",
    "error_code",
    "error_meaning",
    "segments",
    "twilio_sid",
    "sent_at",
)


def _campaign_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(404, "campaign_not_found", "No such campaign.") from None


def _rows(conn, sql: str, campaign_id: str):
    try:
        return conn.execute(sql, (campaign_id,))
    except psycopg.errors.NoDataFound:  # P0002: unknown, or another workspace's
        raise ApiError(404, "campaign_not_found", "No such campaign.") from None


def _region(number: str) -> str | None:
    """The destination's country when the number is a valid phone number, else None (Twilio refuses it)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.region_code_for_number(parsed)


@bp.get("/campaigns/<campaign_id>/estimate")
def campaign_estimate(campaign_id: str):
    campaign_id = _campaign_id(campaign_id)
    with as_user(current_pool(), g.claims) as conn:
        campaign = conn.execute(
            "select id, workspace_id, status, body, media_urls, transliterate from public.campaigns where id = %s",
            (campaign_id,),
        ).fetchone()
        if campaign is None:
            raise ApiError(404, "campaign_not_found", "No such campaign.")
        prices = {}
        for p in conn.execute(
            "select country, per_segment, per_mms, currency, workspace_id is not null as own "
            "from public.message_prices where workspace_id is null or workspace_id = %s "
            "order by own",
            (campaign["workspace_id"],),
        ):
            prices[p["country"]] = p  # the workspace's own row, read last, wins
        mms = bool(campaign["media_urls"])
        skipped: Counter[str] = Counter()
        encodings: Counter[str] = Counter()
        characters: dict[str, str | None] = {}
        by_country: dict[str | None, dict] = defaultdict(lambda: {"recipients": 0, "segments": 0})
        total = segments = segments_transliterated = 0
        largest = 0
        for row in _rows(conn, "select * from public.campaign_estimate_rows(%s)", campaign_id):
            total += 1
            if row["status"] in SKIPPED:
                skipped[SKIPPED[row["status"]]] += 1
                continue
            region = _region(row["phone_e164"])
            if region is None:
                skipped["invalid"] += 1
                continue
            body = row["body"] or ""
            sent_body = transliterate(body) if campaign["transliterate"] else body
            info = count(sent_body)
            cost_units = 1 if mms else info.segments
            encodings[info.encoding] += 1
            segments += cost_units
            largest = max(largest, cost_units)
            segments_transliterated += 1 if mms else count(transliterate(body)).segments
            for character, replacement in ucs2_characters(sent_body):
                characters.setdefault(character, replacement)
            by_country[region]["recipients"] += 1
            by_country[region]["segments"] += cost_units

    countries, unpriced, currencies, cost = [], [], set(), Decimal(0)
    for region, counts in sorted(by_country.items()):
        price = prices.get(region)
        unit = None if price is None else (price["per_mms"] if mms else price["per_segment"])
        entry = {
            "country": region,
            **counts,
            "unit_price": float(unit) if unit is not None else None,
            "currency": price["currency"] if price else None,
            "cost": None,
        }
        if unit is None:
            unpriced.append(region)
        else:
            entry["cost"] = float(round(unit * counts["segments"], 4))
            cost += unit * counts["segments"]
            currencies.add(price["currency"])
        countries.append(entry)

    warnings = []
    if characters:
        listed = ", ".join(
            f"{c!r} (GSM-7: {r!r})" if r else f"{c!r} (no GSM-7 look-alike)" for c, r in characters.items()
        )
        warning = {
            "code": "ucs2_characters",
            "message": f"These characters make messages UCS-2, 70 characters a segment instead of 160: {listed}.",
            "characters": [{"character": c, "replacement": r} for c, r in characters.items()],
        }
        if not campaign["transliterate"] and segments_transliterated < segments:
            warning["message"] += (
                f" Turning on transliterate would send {segments_transliterated} segments instead of {segments}."
            )
            warning["segments_with_transliteration"] = segments_transliterated
        warnings.append(warning)
    if unpriced:
        warnings.append(
            {
                "code": "no_price",
                "countries": unpriced,
                "message": f"No price is set for {', '.join(unpriced)}: the cost leaves those messages out; "
                "add the workspace's prices to message_prices.",
            }
        )
    if len(currencies) > 1:
        warnings.append(
            {
                "code": "mixed_currencies",
                "message": "Prices are in several currencies; the total adds them as they are.",
                "countries": [],
            }
        )
    sendable = total - sum(skipped.values())
    return jsonify(
        {
            "campaign_id": campaign_id,
            "status": campaign["status"],
            "recipients": total,
            "sendable": sendable,
            "skipped": {k: skipped.get(k, 0) for k in ("opted_out", "invalid", "removed", "unreachable", "canceled")},
            "kind": "mms" if mms else "sms",
            "transliterate": bool(campaign["transliterate"]),
            "encoding": ("mixed" if len(encodings) > 1 else next(iter(encodings), "gsm7")),
            "messages_by_encoding": {"gsm7": encodings.get("gsm7", 0), "ucs2": encodings.get("ucs2", 0)},
            "segments": segments,
            "max_segments_per_message": largest,
            "cost": {
                "total": float(round(cost, 4)),
                "currency": next(iter(currencies)) if len(currencies) == 1 else None,
                "by_country": countries,
            },
            "warnings": warnings,
        }
    )


@bp.get("/campaigns/<campaign_id>/report.csv")
def campaign_report_csv(campaign_id: str):
    campaign_id = _campaign_id(campaign_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    with as_user(current_pool(), g.claims) as conn:  # RLS: members see their campaigns' recipients
        if conn.execute("select 1 from public.campaigns where id = %s", (campaign_id,)).fetchone() is None:
            raise ApiError(404, "campaign_not_found", "No such campaign.")
        for r in conn.execute(
            "select r.phone_e164, r.status, m.status as message_status, coalesce(m.error_code, r.error_code) "
            "as error_code, m.num_segments, m.twilio_sid, r.sent_at from public.campaign_recipients r "
            "left join public.messages m on m.id = r.message_id where r.campaign_id = %s order by r.id",
            (campaign_id,),
        ):
            writer.writerow(
                [
                    r["phone_e164"],
                    r["status"],
                    r["message_status"] or "",
                    r["error_code"] or "",
                    meaning(r["error_code"]) or "",
                    r["num_segments"] or "",
                    r["twilio_sid"] or "",
                    r["sent_at"].isoformat() if r["sent_at"] else "",
                ]
            )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )
