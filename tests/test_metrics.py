"""Prometheus metrics: scraped from a real gunicorn of two workers while traffic runs, they add up every
worker's work and match, to the unit, the traffic sent and what the service answered."""
import http.client
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BACKENDS
from servers import Client, served


def scrape(address, key) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    connection = http.client.HTTPConnection(*address, timeout=30)
    connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    assert response.status == 200
    text = response.read().decode()
    connection.close()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_metrics_scraped_during_traffic_match_the_traffic_sent(backend, tmp_path):
    with served(backend, tmp_path) as run:
        address, keys = run.server.address, run.keys
        admin = Client(address, keys["admin"])
        assert admin.request("POST", "/admin/v1/partners", {"id": "skyport", "name": "SkyPort", "kind": "lounge",
                                                            "benefits": ["airport_lounge"]})[0] == 201
        partner_key = admin.request("POST", "/admin/v1/partners/skyport/keys", {})[1]["key"]
        app = Client(address, keys["app"])
        for n in range(4):
            assert app.request("PUT", f"/api/v1/customers/c{n}", {"name": "张三", "aum": 8_000_000})[0] == 201
        earned, answered = [], []

        def events(worker: int) -> None:
            client = Client(address, keys["app"])
            for n in range(60):
                body = {"id": f"w{worker}-{n}", "customer_id": f"c{n % 4}", "type": "transaction",
                        "occurred_at": "2026-11-30T10:00:00+08:00", "amount": "2000", "category": "card_spend"}
                status, answer = client.request("POST", "/api/v1/events", body)
                assert status == 201, answer
                earned.append(answer["points"])
                assert client.request("POST", "/api/v1/events", body)[0] == 200  # a replay counts nothing
                answered.append(2)

        threads = [threading.Thread(target=events, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        during = scrape(address, keys["admin"])
        desk = Client(address, partner_key)
        holds = 0
        for n in range(4):
            code = app.request("POST", f"/api/v1/customers/c{n}/passes", {})[1]["code"]
            status, held = desk.request("POST", "/partner/v1/redemptions", {"pass_code": code,
                                                                          "benefit": "airport_lounge"})
            assert status == 201, held
            holds += 1
            if n % 2:
                assert desk.request("POST", f"/partner/v1/redemptions/{held['id']}/confirm", {})[0] == 200
        assert desk.request("GET", "/partner/v1/passes/WRONG-WRONG")[0] == 404
        for thread in threads:
            thread.join()
        after = scrape(address, keys["admin"])

    assert value(during, "benefits_events_recorded_total", type="transaction") <= 240
    assert value(after, "benefits_events_recorded_total", type="transaction") == 240
    assert value(after, "benefits_points_total", kind="earned") == sum(earned) > 0
    assert value(after, "benefits_redemptions_total", outcome="held") == holds
    assert value(after, "benefits_redemptions_total", outcome="confirmed") == 2
    posted = value(after, "benefits_http_requests_total", method="POST", route="/api/v1/events", status="201")
    replayed = value(after, "benefits_http_requests_total", method="POST", route="/api/v1/events", status="200")
    assert (posted, replayed) == (240, 240)
    assert value(after, "benefits_http_requests_total", method="GET", route="/partner/v1/passes/<code>",
                 status="404") == 1
    assert value(after, "benefits_http_request_duration_seconds_count", method="POST",
                 route="/api/v1/events") == 480
    assert value(after, "benefits_rule_evaluation_seconds_count", group="earning") >= 240
    assert value(after, "benefits_audit_tip_lock_wait_seconds_count") > 0
    assert not any("WRONG" in str(labels) for _, labels in after)  # routes are templates, never a code
