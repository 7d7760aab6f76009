"""Grafana's template variables in dashboard queries: expanded as Grafana computes them, or refused by name."""

from __future__ import annotations

import pytest

from bench.prometheus import config, expand, grafana_intervals


def test_grafana_variables_are_expanded_or_refused():
    variables = grafana_intervals(180, 600, 5)
    assert variables["__rate_interval"] == "20000ms"  # max(interval + scrape, 4 x scrape) with a 5 s floor
    assert expand("rate(x[$__rate_interval]) + y{a=\"${app}\"}", {**variables, "app": "a1"}) == \
        "rate(x[20000ms]) + y{a=\"a1\"}"
    with pytest.raises(KeyError, match="job"):
        expand("up{job=\"$job\"}", variables)


def test_intervals_follow_the_range_above_the_scrape_floor():
    wide = grafana_intervals(6 * 3600, 1000, 15)
    assert wide["__interval"] == "21600ms" and wide["__rate_interval"] == "60000ms"  # 4 x 15 s wins
    assert wide["__range"] == "21600000ms" and wide["__range_s"] == "21600"


def test_config_scrapes_every_job_with_a_timeout_below_the_interval():
    cfg = config({"api": ["127.0.0.1:5001"], "worker": ["127.0.0.1:8081", "127.0.0.1:8082"]}, 2.0, [])
    assert cfg["global"]["scrape_interval"] == "2000ms" and cfg["global"]["scrape_timeout"] == "1800ms"
    assert [(j["job_name"], j["static_configs"][0]["targets"]) for j in cfg["scrape_configs"]] == [
        ("api", ["127.0.0.1:5001"]), ("worker", ["127.0.0.1:8081", "127.0.0.1:8082"])]
