import pytest

from tierroute.cache import parse_cache_controls
from tierroute.errors import InvalidRequest


def test_cache_control_directives_and_headers():
    c = parse_cache_controls({"cache-control": "no-cache, No-Store", "X-Tierroute-Cache-TTL": "30",
                              "x-tierroute-cache-threshold": "0.97"})
    assert c.no_cache and c.no_store
    assert c.ttl_s == 30.0 and c.min_similarity == 0.97
    assert parse_cache_controls({}) == parse_cache_controls({"Cache-Control": "max-age=0"})


@pytest.mark.parametrize(("header", "value"), [
    ("X-Tierroute-Cache-TTL", "soon"), ("X-Tierroute-Cache-TTL", "-5"), ("X-Tierroute-Cache-TTL", "nan"),
    ("X-Tierroute-Cache-Threshold", "1.5"), ("X-Tierroute-Cache-Threshold", "high"),
])
def test_bad_header_is_a_400_naming_the_header(header, value):
    with pytest.raises(InvalidRequest) as exc:
        parse_cache_controls({header: value})
    assert exc.value.status == 400
    assert exc.value.param == header
    assert header in exc.value.body()["error"]["message"]
