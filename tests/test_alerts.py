"""Alert rules: kept in the store, checked by the daily command, each new alert delivered once to a real local webhook
receiver; the /alerts page and /api/v1/alerts manage the rules."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import logged

from liquidity.alerts import Rule, check_rule, post_webhook, raise_alerts
from liquidity.commands.daily import daily_command
from liquidity.paths import PROJECT_ROOT
from liquidity.store.alerts import add_rule, delete_rule, recent_alerts, record_alerts, rule, rules
from liquidity.store.schema import alerts as alerts_table

pytestmark = pytest.mark.usefixtures("no_coingecko_settings_from_the_machine")


class Receiver:
    """A webhook receiver on a free loopback port: answers each POST with the next of `answers` (an HTTP status, or
    "hang": no answer until the test ends), then 200; keeps every body it was sent."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.bodies = []
        self.headers = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.bodies.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    receiver.release.wait(30)
                    return
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def model_env(trained_dir, monkeypatch):
    for name, file in (("MODEL", "tuned_liquidity_model.pkl"), ("SCALER", "liquidity_scaler.pkl"),
                       ("CARD", "model_card.json")):
        monkeypatch.setenv(f"LIQUIDITY_{name}_PATH", str(trained_dir / file))


def daily(store_url, *args):
    return CliRunner().invoke(daily_command, ["--skip-ingest", "--database-url", store_url, *args])


def watch_bitcoin(store, webhook_url=None, name="Bitcoin dry", condition="upper_below", value=1.0):
    """Keep a rule on bitcoin 1 day ahead that its forecast meets: the top of an 80 % interval is below 1.0."""
    checked, errors = check_rule({"name": name, "coins": ["bitcoin"], "horizon": 1, "condition": condition,
                                  "value": value, "webhook_url": webhook_url})
    assert errors == []
    return add_rule(store, checked)


def stored_alerts(store):
    with store.engine.connect() as connection:
        return connection.execute(sa.select(alerts_table).order_by(alerts_table.c.id)).mappings().all()


# --- the rules and their conditions -------------------------------------------------------------------------------

def forecast(coin_id="coin-a", horizon=1, score=0.7, forecast_score=0.4, high80=0.55):
    return {"coin_id": coin_id, "horizon": horizon, "score": score, "forecast_score": forecast_score,
            "high80": high80}


@pytest.mark.parametrize(("condition", "value", "row", "raised"), [
    ("turns_low", None, forecast(score=0.7, forecast_score=0.4), True),
    ("turns_low", None, forecast(score=0.4, forecast_score=0.3), False),  # Low already: it does not turn Low
    ("turns_low", None, forecast(score=0.7, forecast_score=0.6), False),
    ("drop", 0.2, forecast(score=0.7, forecast_score=0.45), True),
    ("drop", 0.2, forecast(score=0.7, forecast_score=0.55), False),
    ("drop", 0.2, forecast(score=None, forecast_score=0.1), False),  # no score today: no drop to measure
    ("upper_below", 0.6, forecast(high80=0.55), True),
    ("upper_below", 0.5, forecast(high80=0.55), False),
    ("upper_below", 0.6, forecast(high80=float("nan")), False),
])
def test_each_condition_raises_exactly_when_the_forecast_meets_it(condition, value, row, raised):
    kept = Rule(name="r", coins=None, horizon=1, condition=condition, value=value, webhook_url=None, id=1)
    assert bool(raise_alerts([kept], [row], threshold=0.5)) is raised


def test_a_rule_watches_its_coins_at_its_horizon_only():
    kept = Rule(name="r", coins=("coin-a",), horizon=7, condition="drop", value=0.1, webhook_url=None, id=1)
    rows = [forecast("coin-a", 7), forecast("coin-b", 7), forecast("coin-a", 1)]
    assert [(found["coin_id"], found["horizon"]) for _, found in raise_alerts([kept], rows, 0.5)] == [("coin-a", 7)]


@pytest.mark.parametrize(("data", "field", "words"), [
    ({"horizon": 1, "condition": "turns_low"}, "name", "is required"),
    ({"name": "x" * 101, "horizon": 1, "condition": "turns_low"}, "name", "at most 100"),
    ({"name": "r", "horizon": 2, "condition": "turns_low"}, "horizon", "one of 1, 7, 30"),
    ({"name": "r", "horizon": True, "condition": "turns_low"}, "horizon", "one of 1, 7, 30"),
    ({"name": "r", "horizon": 1, "condition": "sinks"}, "condition", "turns_low, drop, upper_below"),
    ({"name": "r", "horizon": 1, "condition": "drop"}, "value", "is required for drop"),
    ({"name": "r", "horizon": 1, "condition": "drop", "value": 1.5}, "value", "at most 1"),
    ({"name": "r", "horizon": 1, "condition": "drop", "value": "lots"}, "value", "must be a number"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "value": 0.2}, "value", "takes no number"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "coins": "bitcoin"}, "coins", "list of coin ids"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "coins": ["bitcoin", 3]}, "coins[1]", "coin id"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "webhook_url": "ftp://example.com/x"}, "webhook_url",
     "http:// or https://"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "webhook_url": "https://"}, "webhook_url", "name a host"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "webhook_url": "javascript:alert(1)"}, "webhook_url",
     "http:// or https://"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "webhook_url": "http://a b.example"}, "webhook_url",
     "spaces"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "colour": "red"}, "colour", "not a field"),
])
def test_a_bad_rule_is_refused_naming_the_field(data, field, words):
    checked, errors = check_rule(data)
    assert checked is None
    assert any(name == field and words in reason for name, reason in errors), errors


@pytest.mark.sqlite_and_postgresql
def test_rules_are_kept_and_deleted_and_a_deleted_rules_alerts_stay(history_store):
    kept = watch_bitcoin(history_store, "https://hooks.example.com/t")
    other = add_rule(history_store, check_rule({"name": "Any coin", "horizon": 7, "condition": "turns_low"})[0])
    assert [r.id for r in rules(history_store)] == [other.id, kept.id]  # newest first
    assert rule(history_store, kept.id) == kept and other.coins is None
    row = {"coin_id": "bitcoin", "snapshot_date": "2024-03-02"}
    assert record_alerts(history_store, [(kept, row, "m", {"a": 1})]) == 1
    assert record_alerts(history_store, [(kept, row, "m", {"a": 1})]) == 0  # same rule, coin, date, horizon
    assert delete_rule(history_store, kept.id) and not delete_rule(history_store, kept.id)
    assert rule(history_store, kept.id) is None
    [left] = recent_alerts(history_store)
    assert left["rule_id"] is None and left["rule_name"] == "Bitcoin dry" and left["status"] == "pending"


# --- the daily command raises and delivers ------------------------------------------------------------------------

@pytest.mark.sqlite_and_postgresql
def test_daily_delivers_each_new_alert_once_to_a_real_webhook(history_store, store_url, model_env):
    with Receiver() as receiver:
        kept = watch_bitcoin(history_store, receiver.url)
        first = daily(store_url)
        assert first.exit_code == 0, first.output
        assert "alerts: 1 new alert(s) raised by 1 rule(s); webhooks: 1 delivered, 0 failed" in first.output
        again = daily(store_url)
        assert again.exit_code == 0, again.output
        assert "alerts: 0 new alert(s) raised by 1 rule(s); webhooks: 0 delivered, 0 failed" in again.output
    assert len(receiver.bodies) == 1  # the re-run delivered nothing twice
    [body], [headers] = receiver.bodies, receiver.headers
    assert headers["Content-Type"] == "application/json"
    logged_row = logged(history_store).query("coin_id == 'bitcoin' and horizon == 1").iloc[0]
    assert body["coin_id"] == "bitcoin" and body["snapshot_date"] == "2024-03-02" and body["horizon"] == 1
    assert body["rule"] == {"id": kept.id, "name": "Bitcoin dry", "condition": "upper_below", "value": 1.0,
                            "horizon": 1}
    assert body["forecast_score"] == pytest.approx(logged_row["forecast_score"])
    assert body["interval_80"]["high"] == pytest.approx(logged_row["high80"]) and logged_row["high80"] < 1.0
    assert body["coin"] == "Bitcoin" and "Bitcoin (BTC)" in body["message"] and "Bitcoin dry" in body["message"]
    [alert] = stored_alerts(history_store)
    assert alert["id"] == body["alert_id"] and alert["status"] == "delivered" and alert["attempts"] == 1


@pytest.mark.sqlite_and_postgresql
def test_a_receiver_answering_500_gets_the_alert_on_the_retry(history_store, store_url, model_env):
    with Receiver(answers=[500]) as receiver:
        watch_bitcoin(history_store, receiver.url)
        result = daily(store_url, "--webhook-retries", "2")
    assert result.exit_code == 0, result.output
    assert "webhooks: 1 delivered, 0 failed" in result.output
    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]
    [alert] = stored_alerts(history_store)
    assert alert["status"] == "delivered" and alert["attempts"] == 2 and alert["last_error"] is None


@pytest.mark.sqlite_and_postgresql
def test_a_receiver_that_never_answers_is_recorded_as_failed_and_daily_finishes(history_store, store_url, model_env):
    import time

    with Receiver(answers=["hang", "hang"]) as receiver:
        watch_bitcoin(history_store, receiver.url)
        started = time.monotonic()
        result = daily(store_url, "--webhook-timeout", "0.5", "--webhook-retries", "1")
        took = time.monotonic() - started
        assert result.exit_code == 0, result.output
        assert "webhooks: 0 delivered, 1 failed (see /alerts)" in result.output
        assert "pruned" in result.output  # the run went on to its last step
        assert len(receiver.bodies) == 2
        [alert] = stored_alerts(history_store)
        assert alert["status"] == "failed" and alert["attempts"] == 2
        assert alert["last_error"] == "no answer within 0.5 s (after 2 attempt(s))"
        assert took < 20  # two 0.5 s timeouts and a 1 s back-off, not a hang
        # The receiver is back: the next run delivers the alert that failed, and raises nothing new.
        retried = daily(store_url, "--webhook-timeout", "0.5", "--webhook-retries", "1")
    assert "alerts: 0 new alert(s) raised by 1 rule(s); webhooks: 1 delivered, 0 failed" in retried.output
    [alert] = stored_alerts(history_store)
    assert alert["status"] == "delivered" and alert["attempts"] == 3 and len(receiver.bodies) == 3


@pytest.mark.sqlite_and_postgresql
def test_an_alert_left_sending_by_a_killed_daily_is_sent_by_a_later_run(history_store, store_url, model_env):
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import UTC, datetime, timedelta

    from liquidity.store.alerts import ABANDONED_CLAIM

    with Receiver(answers=["hang"]) as receiver:
        watch_bitcoin(history_store, receiver.url)
        run = subprocess.Popen([sys.executable, "-m", "liquidity", "daily", "--skip-ingest", "--database-url",
                                store_url, "--webhook-timeout", "30"], cwd=PROJECT_ROOT,
                               env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not receiver.bodies and time.monotonic() < deadline and run.poll() is None:
                time.sleep(0.1)
            assert receiver.bodies, "daily never reached the webhook"
        finally:
            run.send_signal(signal.SIGKILL)  # killed while the receiver holds the alert's request
            run.wait(timeout=30)
        [alert] = stored_alerts(history_store)
        assert alert["status"] == "sending" and alert["claimed_at"] is not None
        # A claim this fresh may still be in flight (another run sending it): the next run leaves it alone.
        fresh = daily(store_url)
        assert fresh.exit_code == 0, fresh.output
        assert "webhooks: 0 delivered, 0 failed" in fresh.output
        assert len(receiver.bodies) == 1
        # Once the claim is older than any delivery can take, it was abandoned: the next run sends the alert.
        with history_store.engine.begin() as connection:
            connection.execute(alerts_table.update().values(
                claimed_at=datetime.now(UTC) - ABANDONED_CLAIM - timedelta(minutes=1)))
        later = daily(store_url)
    assert later.exit_code == 0, later.output
    assert "webhooks: 1 delivered, 0 failed" in later.output
    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]
    [alert] = stored_alerts(history_store)
    assert alert["status"] == "delivered"


def test_a_closed_port_and_a_refusing_receiver_fail_without_raising(history_store):
    with Receiver(answers=[404]) as receiver:
        refused = post_webhook(receiver.url, {"a": 1}, retries=3, sleep=lambda _: None)
    assert not refused.delivered and refused.attempts == 1  # a 4xx is not retried: the receiver refuses it
    assert refused.error == "the receiver answered HTTP 404 (after 1 attempt(s))"
    closed = post_webhook(receiver.url, {"a": 1}, timeout=1, retries=1, sleep=lambda _: None)
    assert not closed.delivered and closed.error.startswith("cannot connect: ") and closed.attempts == 2


def test_a_rule_without_webhook_raises_an_alert_shown_on_the_page(history_store, store_url, model_env, client):
    watch_bitcoin(history_store)
    result = daily(store_url)
    assert "alerts: 1 new alert(s) raised by 1 rule(s); webhooks: 0 delivered, 0 failed" in result.output
    [alert] = stored_alerts(history_store)
    assert alert["status"] == "shown" and alert["attempts"] == 0
    page = client.get("/alerts").get_data(as_text=True)
    assert "Shown here (the rule has no webhook)" in page and "Bitcoin (BTC): forecast" in page


def test_daily_without_rules_says_so(history_store, store_url, model_env):
    result = daily(store_url)
    assert result.exit_code == 0 and "alerts: no alert rule is set (add one on /alerts)" in result.output


# --- the /alerts page ---------------------------------------------------------------------------------------------

def test_the_alerts_page_is_in_the_nav_and_says_what_it_does(client):
    home = client.get("/").get_data(as_text=True)
    assert 'href="/alerts"' in home
    page = client.get("/alerts")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "No rule yet" in text and "No alert has been raised yet" in text and 'aria-current="page">Alerts' in text


def test_a_rule_made_on_the_page_is_listed_and_deleted(history_store, client):
    token = client.csrf_token("/alerts")
    saved = client.post("/alerts", data={"csrf_token": token, "name": "Desk watch", "coins": "bitcoin, alpha-one",
                                         "horizon": "7", "condition": "drop", "value": "0.25",
                                         "webhook_url": "https://hooks.example.com/T0/secret"})
    assert saved.status_code == 303
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Rule “Desk watch” saved" in page
    assert "the forecast score drops by more than 0.25, 7 days ahead, for bitcoin, alpha-one" in page
    assert "https://hooks.example.com" in page and "secret" not in page  # the webhook's path may be its secret
    [kept] = rules(history_store)
    assert kept.coins == ("bitcoin", "alpha-one") and kept.webhook_url == "https://hooks.example.com/T0/secret"
    deleted = client.post(f"/alerts/{kept.id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303 and rules(history_store) == []
    assert "The rule was deleted" in client.get(deleted.headers["Location"]).get_data(as_text=True)
    # The notice comes from the store, not from the address: a crafted link shows none.
    for crafted in ("Free money", "²", str(kept.id), "9" * 30):
        page = client.get("/alerts", query_string={"saved": crafted})
        assert page.status_code == 200 and 'id="alerts-notice"' not in page.get_data(as_text=True)
    assert client.post(f"/alerts/{kept.id}/delete", data={"csrf_token": token}).status_code == 404


def test_a_bad_rule_on_the_page_is_shown_again_with_its_errors(history_store, client):
    token = client.csrf_token("/alerts")
    answer = client.post("/alerts", data={"csrf_token": token, "name": "", "coins": "bitcoin, dogecoin",
                                          "horizon": "1", "condition": "upper_below", "value": "2",
                                          "webhook_url": "ftp://example.com"})
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert 'id="name-error">is required' in text
    assert "coins[1] &#39;dogecoin&#39; is not a coin in the market store" in text
    assert 'id="value-error">must be above 0 and at most 1' in text
    assert 'id="webhook_url-error">must start with http:// or https://' in text
    assert 'value="bitcoin, dogecoin"' in text  # what was typed stays
    assert rules(history_store) == []


def test_the_page_forms_need_their_csrf_token(history_store, client):
    answer = client.post("/alerts", data={"name": "r", "horizon": "1", "condition": "turns_low"})
    assert answer.status_code == 400 and "not sent from this site" in answer.get_data(as_text=True)
    assert rules(history_store) == []


def test_a_stale_number_under_turns_low_is_not_an_error(history_store, client):
    token = client.csrf_token("/alerts")
    answer = client.post("/alerts", data={"csrf_token": token, "name": "r", "horizon": "30",
                                          "condition": "turns_low", "value": "0.3"})
    assert answer.status_code == 303
    assert [(r.condition, r.value, r.horizon, r.coins) for r in rules(history_store)] == [("turns_low", None, 30, None)]


# --- the API ------------------------------------------------------------------------------------------------------

def test_the_api_adds_reads_and_deletes_a_rule(history_store, client):
    made = client.post("/api/v1/alerts", json={"name": "API rule", "coins": ["bitcoin"], "horizon": 1,
                                              "condition": "upper_below", "value": 0.3,
                                              "webhook_url": "https://hooks.example.com/private"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert made.headers["Location"] == f"/api/v1/alerts/{body['id']}"
    assert body["webhook"] == "https://hooks.example.com" and "private" not in json.dumps(body)
    assert body["coins"] == ["bitcoin"] and body["value"] == 0.3 and body["condition"] == "upper_below"
    listing = client.get("/api/v1/alerts").get_json()
    assert listing["count"] == 1 and listing["rules"][0]["id"] == body["id"] and listing["alerts"] == []
    one = client.get(made.headers["Location"]).get_json()
    assert one["rule"] == body and one["alerts"] == []
    assert client.delete(made.headers["Location"]).status_code == 204
    gone = client.get(made.headers["Location"])
    assert gone.status_code == 404 and "no alert rule" in gone.get_json()["message"]
    assert client.delete(made.headers["Location"]).status_code == 404
    for huge in ("/api/v1/alerts/" + "9" * 30, "/api/v1/alerts/0"):  # no such row, and no driver overflow
        assert client.get(huge).status_code == 404 and client.delete(huge).status_code == 404


@pytest.mark.parametrize(("body", "status", "path", "words"), [
    ({"horizon": 1, "condition": "turns_low"}, 400, "name", "is required"),
    ({"name": "r", "horizon": "seven", "condition": "turns_low"}, 400, "horizon", "one of 1, 7, 30"),
    ({"name": "r", "horizon": 1, "condition": {}}, 400, "condition", "must be one of turns_low"),
    ({"name": "r", "horizon": 1, "condition": "drop", "value": 0}, 400, "value", "above 0"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "coins": ["no-such-coin"]}, 404, "coins[0]",
     "not a coin in the market store"),
    ({"name": "r", "horizon": 1, "condition": "drop", "coins": ["no-such-coin"]}, 400, "coins[0]",
     "not a coin in the market store"),
    ({"name": "r", "horizon": 1, "condition": "turns_low", "webhook_url": "file:///etc/passwd"}, 400, "webhook_url",
     "http:// or https://"),
    ([{"name": "r"}], 400, "$", "must be an object"),
])
def test_the_api_refuses_a_bad_rule_naming_the_field(history_store, client, body, status, path, words):
    answer = client.post("/api/v1/alerts", json=body)
    assert answer.status_code == status
    errors = answer.get_json()["errors"]
    assert any(error["path"] == path and words in error["reason"] for error in errors), errors
    assert rules(history_store) == []


def test_the_api_refuses_bad_json_and_other_media_types(history_store, client):
    nan = client.post("/api/v1/alerts", data='{"name": "r", "horizon": 1, "condition": "drop", "value": NaN}',
                      content_type="application/json")
    assert nan.status_code == 400 and "NaN is not allowed" in nan.get_json()["errors"][0]["reason"]
    twice = client.post("/api/v1/alerts", data='{"name": "a", "name": "b", "horizon": 1, "condition": "turns_low"}',
                        content_type="application/json")
    assert twice.status_code == 400 and twice.get_json()["errors"][0]["path"] == "name"
    form = client.post("/api/v1/alerts", data={"name": "r"})
    assert form.status_code == 415
    assert rules(history_store) == []


def test_the_api_lists_the_alerts_raised_with_their_delivery(history_store, store_url, model_env, client):
    with Receiver(answers=[500]) as receiver:
        kept = watch_bitcoin(history_store, receiver.url)
        daily(store_url, "--webhook-timeout", "1", "--webhook-retries", "0")
    [alert] = client.get(f"/api/v1/alerts/{kept.id}").get_json()["alerts"]
    assert alert["status"] == "failed" and alert["attempts"] == 1 and alert["coin_id"] == "bitcoin"
    assert alert["last_error"] == "the receiver answered HTTP 500 (after 1 attempt(s))"
    page = client.get("/alerts").get_data(as_text=True)
    assert "Not delivered: the receiver answered HTTP 500 (after 1 attempt(s))" in page and 'class="row-error"' in page


def test_the_alert_routes_are_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert set(paths["/api/v1/alerts"]) == {"get", "post"} and set(paths["/api/v1/alerts/{rule_id}"]) == {"get",
                                                                                                          "delete"}
    rule_input = document["components"]["schemas"]["AlertRuleInput"]
    assert rule_input["required"] == ["name", "horizon", "condition"]
    assert rule_input["properties"]["condition"]["enum"] == ["turns_low", "drop", "upper_below"]
    checked, errors = check_rule(rule_input["example"])
    assert errors == [] and checked.name == "Our coins going dry"


# --- a store that refuses writes ----------------------------------------------------------------------------------

def test_a_read_only_store_answers_503_in_plain_words_not_500(history_store, store_url, make_app, trained_dir,
                                                            report_dir):
    path = store_url.removeprefix("sqlite:///")
    watch_bitcoin(history_store)
    history_store.close()
    # SQLite opens a mode=ro URI read-only even for root, who may write a chmod 444 file.
    app = make_app(trained_dir, report_dir, DATABASE_URL=f"sqlite:///file:{path}?mode=ro&uri=true")
    client = app.test_client()
    assert client.get("/alerts").status_code == 200  # reading the rules still works
    token = client.csrf_token("/alerts")
    page = client.post("/alerts", data={"csrf_token": token, "name": "r", "horizon": "1", "condition": "turns_low"})
    assert page.status_code == 503
    assert "Alert rules cannot be changed right now" in page.get_data(as_text=True)
    api = client.post("/api/v1/alerts", json={"name": "r", "horizon": 1, "condition": "turns_low"})
    assert api.status_code == 503 and api.get_json()["message"].startswith("Alert rules cannot be changed right now")
    [kept] = client.get("/api/v1/alerts").get_json()["rules"]
    assert client.delete(f"/api/v1/alerts/{kept['id']}").status_code == 503
    assert len(client.get("/api/v1/alerts").get_json()["rules"]) == 1
