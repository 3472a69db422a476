"""The ``claim`` benchmark scenario: a consumer's first scan of a code, then its claim.

Seeding (in-process, through the services): one points campaign with an unlimited budget for
the bench brand, and ``consumers`` WeChat consumers with consumer JWTs. The request list
interleaves first scans and claims: ``scan(i), claim(i - LAG)`` — the claim of a code is sent
``2 × LAG`` requests after its scan, so with 32 connections the scan has long been answered
(the scan log is group-committed before the answer). Each code has its own device id (the
claimer's device is the first scanner's); claims rotate over the consumers.

The fraud-hold thresholds are lifted for the run (``CLAIM_ENV``): the bench's few hundred
client addresses and consumers would otherwise trip the per-IP / per-consumer-batch holds,
and a held claim does the same work plus an outbox row instead of a credit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import timedelta

import httpx

from anticounterfeit.catalogue.queries import owned_product_ids
from kernel.db import utcnow
from kernel.runtime import Runtime
from kernel.uow import session_scope
from loyalty import identity
from loyalty.campaigns import create_campaign
from loyalty.schemas import CampaignIn

__all__ = ["CLAIM_ENV", "LAG", "check_claimed_again", "claim_lines", "seed_claims"]

LAG = 256
CLAIM_ENV = {
    "SCANGUARD_FRAUD_IP_MAX_CLAIMS": "1000000000",
    "SCANGUARD_FRAUD_DEVICE_MAX_CLAIMS": "1000000000",
    "SCANGUARD_FRAUD_GROUP_MAX_CLAIMS": "1000000000",
}


async def seed_claims(runtime: Runtime, brand_id: str, *, consumers: int = 512) -> list[str]:
    """A running campaign for ``brand_id`` and ``consumers`` consumer tokens."""
    now = utcnow()
    async with session_scope(runtime.session_factory) as session:
        await create_campaign(
            session,
            None,
            uuid.UUID(brand_id),
            CampaignIn(
                name="bench",
                starts_at=now - timedelta(days=1),
                ends_at=now + timedelta(days=30),
                points=10,
            ),
            products=owned_product_ids,
        )
    tokens = []
    async with session_scope(runtime.session_factory) as session:
        for n in range(consumers):
            consumer = await identity.consumer_by_openid(session, f"obench{n:06d}")
            token = identity.issue_token(runtime.settings.auth.jwt_secret, consumer, 6 * 3600)
            tokens.append(f"Bearer {token.access_token}")
    return tokens


def claim_lines(
    pairs: Sequence[Sequence[str]],
    tokens: Sequence[str],
    ips: Sequence[str],
    *,
    resolver: str,
    tag: str,
) -> list[str]:
    """wrk lines: first scans interleaved with the claims of codes scanned 2 × LAG lines
    earlier (the last LAG codes are scanned, not claimed)."""

    def url(i: int) -> str:
        gtin, code = pairs[i]
        return f"{resolver}/01/{gtin}/21/{code}"

    # wrk drops a thread's first request (request() runs once before connecting): a no-op.
    lines = ["GET\t/health\t127.0.0.1\t"]
    for i in range(len(pairs)):
        device = f"{tag}-{i}"
        scan = json.dumps({"url": url(i), "device_id": device})
        lines.append(f"POST\t/v1/scans\t{ips[i % len(ips)]}\t{scan}")
        j = i - LAG
        if j >= 0:
            body = json.dumps({"url": url(j), "device_id": f"{tag}-{j}"})
            ip = ips[j % len(ips)]
            lines.append(f"POST\t/v1/loyalty/claims\t{ip}\t{body}\t{tokens[j % len(tokens)]}")
    return lines


def check_claimed_again(
    base_url: str, pair: Sequence[str], device: str, token: str, *, resolver: str
) -> str | None:
    """A code claimed during a run must answer 409 already_claimed to a second claim."""
    gtin, code = pair
    response = httpx.post(
        base_url + "/v1/loyalty/claims",
        json={"url": f"{resolver}/01/{gtin}/21/{code}", "device_id": device},
        headers={"Authorization": token},
        timeout=10,
    )
    if response.status_code != 409 or response.json().get("code") != "already_claimed":
        return f"claim of {code} again: HTTP {response.status_code} {response.text[:200]}"
    return None
