"""`benefits events import FILE`: CSV or JSON lines, through the same service and validation as the API."""
import csv
import json

import pytest
import sqlalchemy as sa

from factories import activate_rules, customer, rules_yaml

T = "2026-11-23T10:00:00+08:00"
HEADER = "id,customer_id,type,occurred_at,amount,currency,category,channel,activity,course_id"


@pytest.fixture
def rules(app, clock):
    return activate_rules(app, rules_yaml(), clock())


def run_import(app, path, *args):
    result = app.test_cli_runner().invoke(args=["events", "import", str(path), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def summary(result) -> str:
    return result.stdout.strip().splitlines()[-1]


def count(app, table: str) -> int:
    with app.extensions["benefits"].engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def balance(api, customer_id) -> int:
    return api.get(f"/api/v1/customers/{customer_id}/points").get_json()["balance"]


def rejected_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_csv_import_counts_created_duplicate_and_rejected(rules, app, app_api, tmp_path):
    customer(app_api, "c1")
    customer(app_api, "c2")
    path = tmp_path / "events.csv"
    path.write_text("\n".join([
        HEADER,
        f"e1,c1,transaction,{T},500,CNY,card_spend,,,",            # 2: created, 5 points
        f"e2,c2,learning,{T},,,,,course_completed,fx-1",            # 3: created, 50 points
        f"e3,c1,transaction,{T},,CNY,card_spend,,,",                # 4: no amount
        f"e4,ghost,transaction,{T},100,CNY,card_spend,,,",          # 5: unknown customer
        f"e1,c1,transaction,{T},501,CNY,card_spend,,,",             # 6: same id, another body
        f"e2,c2,learning,{T},,,,,course_completed,fx-1",            # 7: a replay of line 3
        f"e5,c1,gift,2026-11-23T10:00:00,100,CNY,card_spend,,,",    # 8: bad type, naive time
        "",
        f"e6,c1,transaction,{T},300,CNY,card_spend",                # 10: too few cells
    ]) + "\n", encoding="utf-8")
    result = run_import(app, path)
    assert result.exit_code == 1, result.output  # lines were rejected
    assert summary(result) == "created 2, duplicate 1, rejected 5"
    assert (balance(app_api, "c1"), balance(app_api, "c2")) == (5, 50)
    assert count(app, "events") == 2

    with open(tmp_path / "events.csv.rejected", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(r["line"]), r["reason"]) for r in rows] == [
        (4, "invalid"), (5, "not_found"), (6, "event_conflict"), (8, "invalid"), (10, "invalid")]
    assert rows[0]["message"] == "amount: a transaction needs an amount"
    assert rows[0]["text"] == f"e3,c1,transaction,{T},,CNY,card_spend,,,"
    assert "ghost" in rows[1]["message"]
    assert "type" in rows[3]["message"] and "occurred_at" in rows[3]["message"]
    assert rows[4]["message"] == "the line has 7 cells, the header 10"


def test_jsonl_import_rejects_lines_that_are_not_events(rules, app, app_api, tmp_path):
    customer(app_api, "c1")
    path = tmp_path / "events.jsonl"
    good = {"id": "j1", "customer_id": "c1", "type": "transaction", "occurred_at": T, "amount": 700,
            "category": "card_spend"}
    path.write_text("\n".join([
        json.dumps(good),                                            # 1: created, 7 points
        "{not json",                                                 # 2
        "[1, 2]",                                                    # 3: not an object
        "   ",                                                       # 4: blank, skipped
        json.dumps({**good, "id": "j2", "amount": "12.345"}),        # 5: three decimals
        json.dumps({**good, "id": "j3", "colour": "red"}),           # 6: unknown field, as the API refuses it
        json.dumps({**good, "id": "j4", "amount": 300}),             # 7: created, 3 points
    ]) + "\n", encoding="utf-8")
    result = run_import(app, path, "--rejected", str(tmp_path / "bad.jsonl"))
    assert result.exit_code == 1, result.output
    assert summary(result) == "created 2, duplicate 0, rejected 4"
    assert balance(app_api, "c1") == 10
    rejected = rejected_jsonl(tmp_path / "bad.jsonl")
    assert [(r["line"], r["reason"]) for r in rejected] == [(2, "invalid"), (3, "invalid"), (5, "invalid"),
                                                            (6, "invalid")]
    assert rejected[0]["message"].startswith("not valid JSON")
    assert rejected[0]["text"] == "{not json"
    assert rejected[2]["errors"] == [{"path": "amount", "message": "must have at most two decimal places"}]
    assert rejected[3]["errors"] == [{"path": "colour", "message": "Unknown field."}]
    assert not (tmp_path / "events.jsonl.rejected").exists()


def test_validation_matches_the_api_line_for_line(rules, app, app_api, tmp_path):
    """Every line the API refuses with 422 the import rejects as invalid, and the other way round."""
    customer(app_api, "c1")
    bodies = [
        {"id": "v1", "customer_id": "c1", "type": "transaction", "occurred_at": T, "amount": "1e3",
         "category": "card_spend"},
        {"id": "v2", "customer_id": "c1", "type": "transaction", "occurred_at": T, "amount": -1},
        {"id": "v3", "customer_id": "c1", "type": "learning", "occurred_at": T},
        {"id": "bad id!", "customer_id": "c1", "type": "learning", "occurred_at": T, "activity": "quiz"},
        {"id": "v5", "customer_id": "c1", "type": "transaction", "occurred_at": T, "amount": 5, "currency": "cny"},
        {"id": "v6", "customer_id": "c1", "type": "transaction", "occurred_at": "yesterday", "amount": 5},
        {"id": "v7", "customer_id": "c1", "type": "learning", "occurred_at": T, "activity": "x" * 65},
        {"id": "v8", "customer_id": "c1", "type": "learning", "occurred_at": T, "activity": "course_completed"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({**b, "id": b["id"]}) + "\n" for b in bodies), encoding="utf-8")
    result = run_import(app, path)
    assert result.exit_code == 1, result.output
    imported_invalid = {r["line"] for r in rejected_jsonl(tmp_path / "events.jsonl.rejected")}
    api_invalid = set()
    for number, body in enumerate(bodies, start=1):
        response = app_api.post("/api/v1/events", json=body)
        assert response.status_code in (200, 422), response.get_json()
        if response.status_code == 422:
            api_invalid.add(number)
            rejected = next(r for r in rejected_jsonl(tmp_path / "events.jsonl.rejected") if r["line"] == number)
            assert rejected["errors"] == [{"path": e["path"].removeprefix("json."), "message": e["message"]}
                                          for e in response.get_json()["errors"]]
    assert imported_invalid == api_invalid == {2, 3, 4, 5, 6, 7}


def test_reimport_is_all_duplicates(rules, app, app_api, tmp_path):
    customer(app_api, "c1")
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "\n" + "".join(
        f"r{i},c1,transaction,{T},{100 * i},CNY,card_spend,,,\n" for i in range(1, 8)), encoding="utf-8")
    first = run_import(app, path, "--chunk-size", "3")
    assert summary(first) == "created 7, duplicate 0, rejected 0"
    before = (balance(app_api, "c1"), count(app, "ledger_entries"), count(app, "audit_log"))
    again = run_import(app, path, "--chunk-size", "3")
    assert again.exit_code == 0, again.output
    assert summary(again) == "created 0, duplicate 7, rejected 0"
    assert (balance(app_api, "c1"), count(app, "ledger_entries"), count(app, "audit_log")) == before
    assert before[0] == sum(range(1, 8))


def test_imported_balances_equal_the_api_for_the_same_events(rules, app, app_api, tmp_path, clock):
    """The same events, imported for customers i* and posted through the API for customers a*."""
    clock.advance(days=1)  # the events are of the 23rd and the 24th
    profiles = {"1": {"aum": 100000}, "2": {"aum": 900000}, "3": {"aum": 8000000}}
    for suffix, profile in profiles.items():
        customer(app_api, f"i{suffix}", **profile)
        customer(app_api, f"a{suffix}", **profile)
    template = []
    for n in range(30):
        suffix = str(n % 3 + 1)
        day = 23 + n % 2
        if n % 5 == 4:
            template.append({"id": f"{n}", "customer": suffix, "type": "learning",
                             "occurred_at": f"2026-11-{day}T09:00:00+08:00", "activity": "course_completed"})
        else:  # large amounts hit the daily cap of card-spend
            template.append({"id": f"{n}", "customer": suffix, "type": "transaction",
                             "occurred_at": f"2026-11-{day}T09:00:00+08:00", "amount": f"{(n + 1) * 1733}.50",
                             "currency": "CNY", "category": "card_spend"})

    def body(item, prefix):
        fields = {k: v for k, v in item.items() if k not in ("id", "customer")}
        return {"id": f"{prefix}-{item['id']}", "customer_id": f"{prefix}{item['customer']}", **fields}

    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(body(item, "i")) + "\n" for item in template), encoding="utf-8")
    result = run_import(app, path, "--chunk-size", "7")
    assert summary(result) == "created 30, duplicate 0, rejected 0"
    for item in template:
        response = app_api.post("/api/v1/events", json=body(item, "a"))
        assert response.status_code == 201, response.get_json()

    capped = False
    for suffix in profiles:
        imported = app_api.get(f"/api/v1/customers/i{suffix}/points").get_json()
        posted = app_api.get(f"/api/v1/customers/a{suffix}/points").get_json()
        assert imported == posted
        assert imported["balance"] > 0
        ledger_i = app_api.get(f"/api/v1/customers/i{suffix}/ledger?limit=100").get_json()["items"]
        ledger_a = app_api.get(f"/api/v1/customers/a{suffix}/ledger?limit=100").get_json()["items"]
        assert [(e["points"], e["balance_after"], e["rule"]) for e in ledger_i] == \
               [(e["points"], e["balance_after"], e["rule"]) for e in ledger_a]
    with app.extensions["benefits"].engine.connect() as connection:
        capped = connection.execute(sa.text(
            "SELECT count(*) FROM cap_usage WHERE customer_id LIKE 'i%' AND points = 1000")).scalar_one() > 0
    assert capped, "the events are meant to reach the daily cap"


def test_an_imported_event_replays_through_the_api(rules, app, app_api, tmp_path):
    customer(app_api, "c1")
    body = {"id": "x1", "customer_id": "c1", "type": "transaction", "occurred_at": T, "amount": "250.00",
            "currency": "CNY", "category": "card_spend"}
    path = tmp_path / "one.csv"
    path.write_text(HEADER + "\nx1,c1,transaction," + T + ",250.00,CNY,card_spend,,,\n", encoding="utf-8")
    assert summary(run_import(app, path)) == "created 1, duplicate 0, rejected 0"
    replay = app_api.post("/api/v1/events", json=body)
    assert replay.status_code == 200
    assert replay.get_json() == {"id": "x1", "points": 2, "awards": [{"rule": "card-spend", "points": 2}],
                                 "balance": 2}
    conflict = app_api.post("/api/v1/events", json={**body, "amount": "251.00"})
    assert conflict.status_code == 409


def test_format_is_chosen_by_content_without_a_known_extension(rules, app, app_api, tmp_path):
    customer(app_api, "c1")
    jsonl = tmp_path / "events.txt"
    jsonl.write_text(json.dumps({"id": "d1", "customer_id": "c1", "type": "learning", "occurred_at": T,
                                 "activity": "course_completed"}) + "\n", encoding="utf-8")
    assert summary(run_import(app, jsonl)) == "created 1, duplicate 0, rejected 0"
    table = tmp_path / "events.dat"
    table.write_bytes(("\ufeff" + HEADER + "\r\nd2,c1,learning," + T + ",,,,,course_completed,\r\n").encode())
    assert summary(run_import(app, table)) == "created 1, duplicate 0, rejected 0"
    assert balance(app_api, "c1") == 100


def test_a_line_that_is_not_utf8_is_rejected_alone(rules, app, app_api, tmp_path):
    customer(app_api, "c1")
    path = tmp_path / "events.csv"
    path.write_bytes((HEADER + "\n").encode() + b"u1,c1,learning," + T.encode() + b",,,,\xff\xfe,course_completed,\n"
                     + b"u2,c1,learning," + T.encode() + b",,,,,course_completed,\n")
    result = run_import(app, path)
    assert summary(result) == "created 1, duplicate 0, rejected 1"
    rows = list(csv.DictReader(open(tmp_path / "events.csv.rejected", newline="", encoding="utf-8")))
    assert [(r["line"], r["message"]) for r in rows] == [("2", "the line is not valid UTF-8")]


@pytest.mark.parametrize("header, problem", [
    (HEADER + ",colour", "unknown column(s) 'colour'"),
    ("id,customer_id,type,amount", "required column(s) missing: occurred_at"),
    ("id,id,customer_id,type,occurred_at", "column(s) named twice: id"),
])
def test_an_unusable_csv_header_refuses_the_file(rules, app, app_api, tmp_path, header, problem):
    customer(app_api, "c1")
    path = tmp_path / "events.csv"
    path.write_text(header + "\n" + f"h1,c1,learning,{T},,,,,course_completed,\n", encoding="utf-8")
    result = run_import(app, path)
    assert result.exit_code == 1
    assert problem in result.stderr
    assert "Traceback" not in result.output
    assert count(app, "events") == 0
    assert not (tmp_path / "events.csv.rejected").exists()


def test_bad_arguments_are_clear_errors(app, tmp_path):
    missing = app.test_cli_runner().invoke(args=["events", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "\n", encoding="utf-8")
    same = app.test_cli_runner().invoke(args=["events", "import", str(path), "--rejected", str(path)])
    assert same.exit_code == 2 and "--rejected" in same.output
    chunk = app.test_cli_runner().invoke(args=["events", "import", str(path), "--chunk-size", "5000"])
    assert chunk.exit_code == 2


def test_empty_file_and_progress_bar(rules, app, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    result = run_import(app, path)
    assert result.exit_code == 0
    assert result.stdout.strip() == "created 0, duplicate 0, rejected 0"
    assert "importing empty.csv" in result.stderr
