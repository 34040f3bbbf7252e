"""Creating an index unless it is there, on the real Elasticsearch: races fine, refusals loud."""

from __future__ import annotations

import asyncio

import pytest
from elasticsearch import ApiError, Elasticsearch

from connectors.clients import async_elasticsearch_client
from connectors.indices import ensure_index, ensure_index_async
from tracer.settings import TracerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

MAPPINGS = {"properties": {"owner": {"type": "keyword"}}}


def test_the_first_call_creates_and_the_second_finds_it(
    es: Elasticsearch, unique_name: str
) -> None:
    try:
        assert ensure_index(es, unique_name, mappings=MAPPINGS) is True
        assert ensure_index(es, unique_name, mappings=MAPPINGS) is False
        mapping = es.indices.get_mapping(index=unique_name)[unique_name]["mappings"]
        assert mapping["properties"]["owner"]["type"] == "keyword"
    finally:
        es.indices.delete(index=unique_name, ignore_unavailable=True)


def test_a_refused_mapping_is_raised_not_taken_for_already_there(
    es: Elasticsearch, unique_name: str
) -> None:
    bad = {"properties": {"owner": {"type": "no-such-type"}}}
    with pytest.raises(ApiError) as refused:
        ensure_index(es, unique_name, mappings=bad)
    assert refused.value.meta.status == 400
    assert not es.indices.exists(index=unique_name)


def test_concurrent_creators_make_one_index_and_all_succeed(
    settings: TracerSettings, es: Elasticsearch, unique_name: str
) -> None:
    async def race() -> list[bool]:
        client = async_elasticsearch_client(settings)
        try:
            return list(
                await asyncio.gather(
                    *(ensure_index_async(client, unique_name, mappings=MAPPINGS) for _ in range(6))
                )
            )
        finally:
            await client.close()

    try:
        created = asyncio.run(race())
        assert created.count(True) == 1
        assert es.indices.exists(index=unique_name)
    finally:
        es.indices.delete(index=unique_name, ignore_unavailable=True)
