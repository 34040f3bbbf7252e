"""Benchmark: the lead indexer's throughput on the local Elasticsearch.

    python -m bench.lead_indexer [--leads 50000] [--districts 20] [--bulk 500] [--warm]

Synthetic leads shaped like ``matchers.leads.build_lead``'s (explanation included), spread
round-robin over ``--districts`` districts, written through ``ElasticsearchLeadIndexer.index``
in calls of ``--bulk`` leads (what the worker's writer sends), on a private alias dropped at the
end. Prints leads/s of the whole run (index creation included; ``--warm`` makes each district's
index before the clock starts).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from connectors.clients import elasticsearch_client
from connectors.elasticsearch import ElasticsearchLeadIndexer
from connectors.lead_index import drop_lead_index, ensure_lead_index
from tracer.settings import TracerSettings

URL = "http://127.0.0.1:9200"


def _lead(n: int, districts: int) -> dict[str, Any]:
    return {
        "lead_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench-{n}")),
        "person_id": f"p{n % 2000}",
        "event_id": f"e{n}",
        "source": "bank",
        "event_type": "account_opened",
        "occurred_at": "2026-12-01T10:00:00+08:00",
        "@timestamp": "2026-12-01T10:00:00+08:00",
        "score": 12.5 + n % 7,
        "probability": 0.97,
        "tier": "high",
        "status": "new",
        "district": f"区{n % districts}",
        "case_officer": "officer-1",
        "person_name": "张伟",
        "event_name": "ZHANG WEI",
        "explanation": {
            "reason_zh": "姓名与出生日期一致",
            "reason_en": "name and birth date agree",
            "fields": [
                {"field": "name", "level": "exact", "weight": 4.2, "detail_en": "same name"},
                {"field": "birth_date", "level": "exact", "weight": 6.1, "detail_en": "same"},
            ],
        },
        "flags": [],
        "model_version": "bench-1",
        "event_digest": f"{n:064x}",
    }


async def _run(leads: list[dict[str, Any]], alias: str, bulk: int, warm: int) -> float:
    indexer = ElasticsearchLeadIndexer.connect(TracerSettings(elasticsearch_url=URL), alias)
    try:
        # --warm: one lead of each district first, untimed (its index made before the clock).
        await indexer.index(leads[:warm])
        leads = leads[warm:]
        started = time.perf_counter()
        for start in range(0, len(leads), bulk):
            report = await indexer.index(leads[start : start + bulk])
            assert report.created == len(leads[start : start + bulk]), report
        return time.perf_counter() - started
    finally:
        await indexer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--districts", type=int, default=20)
    parser.add_argument("--bulk", type=int, default=500)
    parser.add_argument("--warm", action="store_true", help="districts' indices made untimed")
    args = parser.parse_args()
    alias = f"bench-leads-{uuid.uuid4().hex[:8]}"
    client = elasticsearch_client(TracerSettings(elasticsearch_url=URL), request_timeout=60)
    leads = [_lead(n, args.districts) for n in range(args.leads)]
    try:
        ensure_lead_index(client, alias)
        warm = args.districts if args.warm else 0
        seconds = asyncio.run(_run(leads, alias, args.bulk, warm))
        client.indices.refresh(index=alias)
        stored = int(client.count(index=alias)["count"])
    finally:
        drop_lead_index(client, alias)
    timed = args.leads - warm
    print(
        f"{timed} leads over {args.districts} districts in {seconds:.2f} s:"
        f" {timed / seconds:,.0f} leads/s ({stored} stored{', warm' if warm else ''})"
    )


if __name__ == "__main__":
    main()
