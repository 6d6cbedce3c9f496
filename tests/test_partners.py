"""Partners and their keys, through the admin API; entitlements as the app sees them."""
from factories import MASS, PRIVATE, customer


def test_an_admin_registers_a_partner_and_it_is_audited(admin_api):
    response = admin_api.post("/admin/v1/partners", json={"id": "huaxia", "name": "Huaxia General Hospital",
                                                          "kind": "hospital",
                                                          "benefits": ["medical_green_channel", "annual_health_check"]})
    assert response.status_code == 201
    assert response.get_json()["benefits"] == ["annual_health_check", "medical_green_channel"]
    rows = admin_api.get("/admin/v1/audit?action=partner.created&subject=huaxia").get_json()["items"]
    assert rows[0]["actor_name"] == "alice"
    assert [p["id"] for p in admin_api.get("/admin/v1/partners").get_json()["items"]] == ["huaxia"]


def test_a_partner_id_is_registered_once(admin_api):
    body = {"id": "huaxia", "name": "Huaxia", "kind": "hospital", "benefits": ["annual_health_check"]}
    assert admin_api.post("/admin/v1/partners", json=body).status_code == 201
    assert admin_api.post("/admin/v1/partners", json=body).status_code == 409


def test_a_benefit_outside_the_catalog_is_422_by_path(admin_api):
    response = admin_api.post("/admin/v1/partners", json={"id": "spa", "name": "Spa", "kind": "other",
                                                          "benefits": ["airport_lounge", "massage"]})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"path": "json.benefits[1]",
                                              "message": "unknown benefit 'massage' (not in the catalog)"}]


def test_a_partner_kind_must_be_known(admin_api):
    response = admin_api.post("/admin/v1/partners", json={"id": "x", "name": "X", "kind": "casino",
                                                          "benefits": ["airport_lounge"]})
    assert response.status_code == 422 and response.get_json()["errors"][0]["path"] == "json.kind"


def test_a_key_for_an_unknown_partner_is_404(admin_api):
    assert admin_api.post("/admin/v1/partners/nobody/keys", json={}).status_code == 404


def test_a_partner_key_reaches_only_the_partner_api(partner_api):
    lounge = partner_api()
    assert lounge.get("/partner/v1/redemptions").status_code == 200
    assert lounge.get("/api/v1/rewards").status_code == 403
    assert lounge.get("/admin/v1/partners").status_code == 403


def test_entitlements_list_grants_with_their_period_and_unlimited_quotas(app_api):
    customer(app_api, "c1", tags=["children_studying_abroad"], **PRIVATE)
    items = {i["rule"]: i for i in app_api.get("/api/v1/customers/c1/entitlements").get_json()["items"]}
    assert items["lounge-private"] == {
        "benefit": "airport_lounge", "source": "rule", "rule": "lounge-private", "rule_version": 1, "quota": 12,
        "used": 0, "held": 0, "remaining": 12, "period_start": "2026-01-01T00:00:00+08:00",
        "period_end": "2027-01-01T00:00:00+08:00"}
    assert (items["green-channel-private"]["quota"], items["green-channel-private"]["remaining"]) == (None, None)
    assert items["advisory-private"]["period_start"] == "2026-11-01T00:00:00+08:00"
    assert (items["overseas-account"]["period_start"], items["overseas-account"]["period_end"]) == (None, None)


def test_a_mass_customer_has_no_partner_benefits(app_api):
    customer(app_api, "c1", **MASS)
    assert app_api.get("/api/v1/customers/c1/entitlements").get_json() == {"items": []}


def test_entitlements_of_an_unknown_customer_are_404(app_api):
    assert app_api.get("/api/v1/customers/nobody/entitlements").status_code == 404
