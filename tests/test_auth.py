"""API keys: hashed, shown once, and a key reaches only its own role's prefix."""
import time

import sqlalchemy as sa

from conftest import Caller, make_key


def test_missing_key_is_401(client):
    response = client.get("/api/v1/customers/c1")
    assert response.status_code == 401
    assert response.get_json()["reason"] == "unauthenticated"


def test_unknown_key_is_401(client):
    response = Caller(client, "vb_app_not-a-key").get("/api/v1/customers/c1")
    assert response.status_code == 401


def test_app_key_on_admin_routes_is_403_forbidden(app_api):
    response = app_api.get("/admin/v1/audit")
    assert response.status_code == 403
    assert response.get_json()["reason"] == "forbidden"


def test_admin_key_on_app_routes_is_403(admin_api):
    assert admin_api.get("/api/v1/customers/c1").status_code == 403


def test_health_and_docs_need_no_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").get_json()["status"] == "ready"
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_keys_are_stored_only_hashed(app):
    plaintext = make_key(app, "app", "hashed")
    with app.extensions["benefits"].engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT key_hash FROM api_keys WHERE name = 'hashed'")).scalar_one()
    assert plaintext not in stored and len(stored) == 64


def test_admin_creates_an_app_key_that_works(admin_api, client):
    response = admin_api.post("/admin/v1/api-keys", json={"role": "app", "name": "mobile"})
    assert response.status_code == 201
    key = response.get_json()["key"]
    assert Caller(client, key).get("/api/v1/customers/none").status_code == 404


def test_partner_keys_are_not_made_through_api_keys(admin_api):
    response = admin_api.post("/admin/v1/api-keys", json={"role": "partner", "name": "x"})
    assert response.status_code == 422


def test_cli_prints_the_new_key_alone_on_its_last_line(app, client):
    result = app.test_cli_runner().invoke(args=["keys", "create", "--role", "admin", "--name", "ops"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert Caller(client, key).get("/admin/v1/audit").status_code == 200


def test_key_creation_is_audited(admin_api):
    admin_api.post("/admin/v1/api-keys", json={"role": "app", "name": "mobile"})
    rows = admin_api.get("/admin/v1/audit?action=api_key.created").get_json()["items"]
    assert rows[0]["after"]["name"] == "mobile" and rows[0]["actor_name"] == "alice"
    assert "key" not in rows[0]["after"]


def test_revoked_key_is_401_and_the_revocation_audited(app, client, admin_api):
    key = make_key(app, "app", "leaked")
    with app.extensions["benefits"].engine.connect() as connection:
        key_id = connection.execute(sa.text("SELECT id FROM api_keys WHERE name = 'leaked'")).scalar_one()
    result = app.test_cli_runner().invoke(args=["keys", "revoke", str(key_id)])
    assert result.exit_code == 0, result.output
    assert Caller(client, key).get("/api/v1/customers/none").status_code == 401
    rows = admin_api.get("/admin/v1/audit?action=api_key.revoked").get_json()["items"]
    assert rows[0]["subject_id"] == str(key_id)


def test_admins_list_every_key_without_the_key_itself(admin_api, app_api, partner_api):
    partner_api()
    items = admin_api.get("/admin/v1/api-keys").get_json()["items"]
    assert {item["role"] for item in items} == {"admin", "app", "partner"}
    assert all(set(item) == {"id", "role", "name", "partner_id", "created_at", "last_used_at", "revoked_at"}
               for item in items)
    assert admin_api.key not in str(items) and app_api.key not in str(items)


def test_the_key_list_pages_newest_first(admin_api, app):
    for n in range(3):
        make_key(app, "app", f"k{n}")
    first = admin_api.get("/admin/v1/api-keys?limit=2").get_json()
    second = admin_api.get(f"/admin/v1/api-keys?limit=2&cursor={first['next_cursor']}").get_json()
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4


def test_an_admin_revokes_a_key_through_the_api_and_it_is_audited(app, admin_api, client):
    key = make_key(app, "app", "leaked")
    key_id = next(item["id"] for item in admin_api.get("/admin/v1/api-keys").get_json()["items"]
                  if item["name"] == "leaked")
    response = admin_api.post(f"/admin/v1/api-keys/{key_id}/revoke")
    assert response.status_code == 200 and response.get_json()["revoked_at"]
    assert Caller(client, key).get("/api/v1/customers/none").status_code == 401
    row = admin_api.get("/admin/v1/audit?action=api_key.revoked").get_json()["items"][0]
    assert (row["subject_id"], row["actor_name"]) == (str(key_id), "alice")


def test_revoking_an_unknown_key_is_404(admin_api):
    assert admin_api.post("/admin/v1/api-keys/99999/revoke").status_code == 404


def test_a_revoked_key_is_refused_within_the_key_cache_time_even_where_it_was_cached(database_url, clock):
    from benefits import create_app

    app = create_app(DATABASE_URL=database_url, KEY_CACHE_SECONDS=0.5, CLOCK=clock, TESTING=True)
    try:
        key = make_key(app, "app", "cached")
        caller = Caller(app.test_client(), key)
        assert caller.get("/api/v1/customers/none").status_code == 404  # looked up, then cached
        with app.extensions["benefits"].engine.begin() as connection:
            connection.execute(sa.text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE name = 'cached'"))
        time.sleep(0.6)
        assert caller.get("/api/v1/customers/none").status_code == 401
    finally:
        app.extensions["benefits"].engine.dispose()


def test_a_key_s_last_use_is_written_at_most_every_five_minutes(app, app_api, admin_api, clock):
    def last_used():
        return next(item["last_used_at"] for item in admin_api.get("/admin/v1/api-keys").get_json()["items"]
                    if item["name"] == "app-backend")

    app_api.get("/api/v1/customers/none")
    first = last_used()
    clock.advance(minutes=4)
    app_api.get("/api/v1/customers/none")
    assert last_used() == first
    clock.advance(minutes=2)
    app_api.get("/api/v1/customers/none")
    assert last_used() > first
