"""The realtime routes apply the one VCF header rule: the direct route (POST /v1/annotate) and the queued
route (POST /v1/submissions) refuse the same body with the same 422 message naming the line."""

from __future__ import annotations

import pytest

from tests.realtime.test_bad_input import _h
from tests.vcf_header_cases import BAD_HEADERS, WITHOUT_FILEFORMAT


@pytest.mark.parametrize("name", sorted(BAD_HEADERS))
def test_direct_and_queued_routes_give_the_same_error(client, tokens, name):
    body, expected = BAD_HEADERS[name]
    direct = client.post("/v1/annotate", json={"vcf": body}, headers=_h(tokens))
    queued = client.post("/v1/submissions", json={"vcf": body}, headers=_h(tokens))
    assert direct.status_code == queued.status_code == 422, (direct.text, queued.text)
    assert expected in direct.json()["detail"]
    assert queued.json()["detail"] == direct.json()["detail"]


def test_queued_route_accepts_a_vcf_without_fileformat(client, tokens):
    """Both routes read it (the queued route used to demand ##fileformat; the direct one never did)."""
    direct = client.post("/v1/annotate", json={"vcf": WITHOUT_FILEFORMAT}, headers=_h(tokens))
    queued = client.post("/v1/submissions", json={"vcf": WITHOUT_FILEFORMAT}, headers=_h(tokens))
    assert direct.status_code == 200, direct.text
    assert queued.status_code != 422, queued.text  # accepted, or 503 when no Kafka is configured here
