"""Damaged artifacts: the app still starts, /healthz says why (503), every page and API call needing the model is a
clear 503, and a pickle the model card does not vouch for is never unpickled."""

import json
import os
import pickle
import shutil

import pytest

from liquidity.artifacts import CARD_FILE, MODEL_FILE, SCALER_FILE
from liquidity.web.extensions import models

BITCOIN = {"price": 40851.38, "1h": 0.001, "24h_volume": 20476118020, "mkt_cap": 776077432316}


class Marker:
    """Unpickling this creates a file: proof that a pickle was (or was not) loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def damage(folder, name, how, marker):
    """Damage the artifact name in folder in the way how; return the text /healthz's reason must contain."""
    path = folder / name
    data = path.read_bytes()
    if how == "missing":
        path.unlink()
        return "model card not found" if name == CARD_FILE else f"{name}: file not found"
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "corrupt":
        path.write_bytes(os.urandom(len(data)))
    elif how == "foreign pickle":
        path.write_bytes(pickle.dumps(Marker(marker)))
    elif how == "hash edited":
        card = json.loads(data)
        card["artifacts"]["model"]["sha256"] = "0" * 64
        path.write_text(json.dumps(card))
        return f"{MODEL_FILE}: SHA-256"
    elif how == "section missing":
        card = json.loads(data)
        del card["inputs"]
        path.write_text(json.dumps(card))
        return "the model card does not fit this app (ValueError: the model card lacks or has malformed section(s)"
    elif how == "ranges malformed":
        card = json.loads(data)
        card["inputs"]["price"]["max"] = "a lot"
        card["reference_snapshot"]["liquidity_ratios"] = []
        path.write_text(json.dumps(card))
        return "inputs.price, reference_snapshot.liquidity_ratios"
    elif how == "a list":
        path.write_text("[1, 2, 3]")
        return "no 'artifacts' section"
    if name == CARD_FILE:
        return "model card unreadable"
    return f"{name}: SHA-256"


CASES = [(name, how) for name in (MODEL_FILE, SCALER_FILE) for how in ("missing", "truncated", "corrupt",
                                                                       "foreign pickle")]
CASES += [(CARD_FILE, how) for how in ("missing", "truncated", "corrupt", "hash edited", "section missing",
                                            "ranges malformed", "a list")]


@pytest.fixture(params=CASES, ids=[f"{name}-{how}" for name, how in CASES])
def damaged(make_app, request, trained_dir, tmp_path):
    name, how = request.param
    folder = tmp_path / "artifacts"
    shutil.copytree(trained_dir, folder)
    marker = tmp_path / "unpickled.marker"
    reason = damage(folder, name, how, marker)
    app = make_app(folder, tmp_path)
    return app, reason, marker


def test_the_app_starts_and_healthz_is_503_with_the_reason(damaged):
    app, reason, marker = damaged
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert reason in response.json["reason"]
    assert str(app.config["ARTIFACT_PATHS"].model.parent) not in response.json["reason"]  # no deploy paths
    assert not marker.exists()


@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/?price=1"), ("POST", "/predict"), ("GET", "/batch"),
                                          ("POST", "/batch"), ("GET", "/model")])
def test_pages_needing_the_model_are_a_503_page(damaged, method, path):
    app, _, marker = damaged
    app.config["WTF_CSRF_ENABLED"] = False  # the 503 must come before any form check
    response = app.test_client().open(path, method=method, data={"price": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Model unavailable" in html and "/healthz" in html
    assert 'class="site-header"' in html and "Traceback" not in html
    assert not marker.exists()


@pytest.mark.parametrize("method, path", [("POST", "/api/v1/predict"), ("GET", "/api/v1/model")])
def test_api_calls_needing_the_model_are_a_503_in_json(damaged, method, path):
    app, _, marker = damaged
    response = app.test_client().open(path, method=method, json=BITCOIN)
    assert response.status_code == 503
    assert response.json["error"] == "Model unavailable"
    assert "/healthz" in response.json["message"]
    assert not marker.exists()


def test_what_needs_no_model_still_works(damaged):
    app, _, _ = damaged
    client = app.test_client()
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/report/").status_code == 404  # no report built: the page that says how


def test_the_marker_pickle_really_would_run_if_unpickled(tmp_path):
    marker = tmp_path / "proof.marker"
    pickle.loads(pickle.dumps(Marker(marker)))  # noqa: S301 - the point of the test
    assert marker.exists()


@pytest.mark.slow
def test_the_start_up_card_check_starts_no_fast_path_before_gunicorn_forks():
    import subprocess
    import sys

    from liquidity.paths import PROJECT_ROOT

    script = ("import sys; from app import app; from liquidity.web.extensions import models; "
              "model = models.get(app); assert model is not None, models.state(app).error; "
              "assert 'onnxruntime' not in sys.modules and not (model.fast and model.fast.started); print('ok')")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


# /healthz on a good model, a tampered one and none at all.

@pytest.fixture
def tampered_dir(trained_dir, tmp_path):
    """A copy of the fixture artifacts whose model pickle no longer matches the model card."""
    folder = tmp_path / "tampered"
    shutil.copytree(trained_dir, folder)
    model = next(folder.glob("*.pkl"))
    model.write_bytes(model.read_bytes() + b"tampered")
    return folder


@pytest.fixture
def broken_client(make_app, tampered_dir, report_dir):
    return make_app(tampered_dir, report_dir).test_client()


def test_healthz_reports_the_loaded_model_version_and_scoring_backend(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    model = models.get(app)
    assert response.json["status"] == "ok"
    assert response.json["model_version"] == model.version
    assert response.json["backend"] == "onnxruntime"
    assert response.json["backend_reason"] == model.backend_reason


def test_healthz_says_when_scoring_fell_back_to_scikit_learn(make_app, trained_dir, report_dir, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    response = make_app(trained_dir, report_dir).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["backend"] == "scikit-learn"
    assert "ONNX Runtime unavailable" in response.json["backend_reason"]


def test_app_starts_without_unpickling_artifacts_that_fail_verification(make_app, tampered_dir, report_dir):
    app = make_app(tampered_dir, report_dir)
    assert models.get(app) is None
    assert "does not match the model card" in models.state(app).error


def test_healthz_is_503_with_the_reason_when_the_model_failed_to_load(broken_client):
    response = broken_client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert "does not match the model card" in response.json["reason"]


def test_missing_artifacts_are_a_503_not_a_crash(make_app, tmp_path, report_dir):
    client = make_app(tmp_path / "nothing", report_dir).test_client()
    assert client.get("/healthz").status_code == 503
    assert "model card not found" in client.get("/healthz").json["reason"]


@pytest.mark.parametrize("path", ["/model", "/api/v1/model"])
def test_pages_and_api_needing_the_model_answer_503_clearly(broken_client, path):
    response = broken_client.get(path)
    assert response.status_code == 503
    assert "did not pass verification" in response.get_data(as_text=True)


def test_home_page_and_prediction_are_503(broken_client):
    assert broken_client.get("/").status_code == 503
    api = broken_client.post("/api/v1/predict", data=json.dumps({"price": 1, "1h": 0, "24h_volume": 1,
                                                                  "mkt_cap": 1}), content_type="application/json")
    assert api.status_code == 503 and api.is_json


def test_report_missing_says_how_to_build_it(client):
    response = client.get("/report/")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "make report" in html
    assert 'class="site-header"' in html


def test_report_is_served_with_its_figures(client, report_dir):
    (report_dir / "report.html").write_text("<html><body><h1>EDA</h1><img src='figures/a.svg'></body></html>")
    (report_dir / "figures").mkdir()
    (report_dir / "figures" / "a.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    report = client.get("/report/")
    assert report.status_code == 200 and b"<h1>EDA</h1>" in report.data
    assert report.headers["X-Frame-Options"] == "DENY"
    figure = client.get("/report/figures/a.svg")
    assert figure.status_code == 200 and figure.mimetype == "image/svg+xml"


def test_report_redirects_to_its_folder_url_so_relative_figure_links_resolve(client):
    response = client.get("/report")
    assert response.status_code in (301, 308)
    assert response.headers["Location"].endswith("/report/")


@pytest.mark.parametrize("path", ["/report/../pyproject.toml", "/report/%2e%2e/pyproject.toml",
                                  "/report/figures/../../secret.txt", "/report/figures/missing.png"])
def test_report_serves_only_files_under_its_folder(client, report_dir, path):
    (report_dir.parent / "secret.txt").write_text("secret")
    response = client.get(path)
    assert response.status_code == 404
    assert b"secret" not in response.data
