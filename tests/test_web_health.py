import json
import shutil

import pytest

from conftest import make_test_config
from liquidity.web import create_app
from liquidity.web.extensions import models


@pytest.fixture
def tampered_dir(trained_dir, tmp_path):
    """A copy of the fixture artifacts whose model pickle no longer matches the model card."""
    folder = tmp_path / "tampered"
    shutil.copytree(trained_dir, folder)
    model = next(folder.glob("*.pkl"))
    model.write_bytes(model.read_bytes() + b"tampered")
    return folder


@pytest.fixture
def broken_client(tampered_dir, report_dir):
    return create_app(make_test_config(tampered_dir, report_dir)).test_client()


def test_healthz_reports_the_loaded_model_version_and_scoring_backend(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    model = models.get(app)
    assert response.json["status"] == "ok"
    assert response.json["model_version"] == model.version
    assert response.json["backend"] == "onnxruntime"
    assert response.json["backend_reason"] == model.backend_reason


def test_healthz_says_when_scoring_fell_back_to_scikit_learn(trained_dir, report_dir, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    response = create_app(make_test_config(trained_dir, report_dir)).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["backend"] == "scikit-learn"
    assert "ONNX Runtime unavailable" in response.json["backend_reason"]


def test_app_starts_without_unpickling_artifacts_that_fail_verification(tampered_dir, report_dir):
    app = create_app(make_test_config(tampered_dir, report_dir))
    assert models.get(app) is None
    assert "does not match the model card" in models.state(app).error


def test_healthz_is_503_with_the_reason_when_the_model_failed_to_load(broken_client):
    response = broken_client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert "does not match the model card" in response.json["reason"]


def test_missing_artifacts_are_a_503_not_a_crash(tmp_path, report_dir):
    client = create_app(make_test_config(tmp_path / "nothing", report_dir)).test_client()
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
