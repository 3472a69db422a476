"""Before a run: give the repeat codes their first scan."""

from __future__ import annotations

import requests

from loadtests.scenarios.common import DataSet

__all__ = ["prepare_repeats"]


def prepare_repeats(host: str, data: DataSet) -> int:
    """Scan each repeat code once (scanned before is fine too); return how many answered.

    Plain ``requests`` (gevent-patched under locust): a thousand codes take a few seconds.
    """
    answered = 0
    with requests.Session() as session:
        for gtin, code in data.pairs("repeat"):
            response = session.post(
                host.rstrip("/") + "/v1/scans",
                json={
                    "url": f"https://id.example.com/01/{gtin}/21/{code}",
                    "device_id": "loadtest-prepare",
                },
                timeout=10,
            )
            answered += response.status_code == 200
    return answered
