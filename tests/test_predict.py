import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from liquidity.artifacts import ArtifactPaths
from liquidity.commands.model import predict_command
from liquidity.dataset import load_snapshots
from liquidity.modeling.predict import LiquidityModel, predict_liquidity
from liquidity.paths import PROJECT_ROOT
from liquidity.store import MarketStore
from liquidity.store.importer import import_snapshots
from liquidity.validation import InputError

BITCOIN = dict(volume=30e9, mkt_cap=760e9, h1=0.01, price=40000.0)


def test_score_at_or_above_the_threshold_is_high_and_below_is_low(fixture_model):
    score, _ = predict_liquidity(**BITCOIN, model=fixture_model)
    assert 0 < score < 1
    assert predict_liquidity(**BITCOIN, model=fixture_model, threshold=score) == (score, "High")
    assert predict_liquidity(**BITCOIN, model=fixture_model, threshold=np.nextafter(score, 1)) == (score, "Low")


def test_threshold_setting_on_the_model_moves_the_level(fixture_model):
    score, _ = fixture_model.predict_one(**BITCOIN)
    strict = LiquidityModel(fixture_model.forest, fixture_model.scaler, fixture_model.card, threshold=score + 0.01)
    lenient = LiquidityModel(fixture_model.forest, fixture_model.scaler, fixture_model.card, threshold=score - 0.01)
    assert strict.predict_one(**BITCOIN).level == "Low"
    assert lenient.predict_one(**BITCOIN).level == "High"


def test_a_thin_coin_scores_below_a_busy_one(fixture_model):
    thin = fixture_model.predict_one(volume=1500, mkt_cap=5e7, h1=-0.03, price=0.05)
    busy = fixture_model.predict_one(volume=5e10, mkt_cap=8e10, h1=0.0, price=1.0)
    assert thin.score < busy.score


def test_vectorised_scores_equal_one_row_at_a_time(snapshots_dir, fixture_model):
    frame = load_snapshots(snapshots_dir).frame
    batch = fixture_model.predict_frame(frame)
    one_by_one = [fixture_model.predict_one(r.volume, r.mkt_cap, r._4, r.price).score
                  for r in frame[["volume", "mkt_cap", "price", "1h"]].itertuples()]
    np.testing.assert_allclose(batch["liquidity_score"], one_by_one, rtol=0, atol=1e-12)
    assert set(batch["liquidity_level"]) <= {"High", "Low"}
    assert (batch["liquidity_level"] == np.where(batch["liquidity_score"] >= 0.5, "High", "Low")).all()


@pytest.mark.parametrize(
    ("inputs", "field", "reason"),
    [
        (dict(BITCOIN, volume=-1), "volume", "at least 0"),
        (dict(BITCOIN, mkt_cap=0), "mkt_cap", "greater than 0"),
        (dict(BITCOIN, price=float("nan")), "price", "finite"),
        (dict(BITCOIN, h1=-1.0), "1h", "above -100 %"),
        (dict(BITCOIN, volume="lots"), "volume", "must be a number"),
        (dict(BITCOIN, mkt_cap=1e20), "mkt_cap", "at most"),
    ],
)
def test_bad_inputs_name_the_field_and_reason(fixture_model, inputs, field, reason):
    with pytest.raises(InputError) as raised:
        predict_liquidity(**inputs, model=fixture_model)
    assert list(raised.value.errors) == [field]
    assert reason in raised.value.errors[field]


def test_predict_frame_keeps_the_index(fixture_model):
    frame = pd.DataFrame({"volume": [1e6, 2e9], "mkt_cap": [1e8, 3e9], "1h": [0.0, 0.01], "price": [1, 2]},
                         index=[10, 20])
    assert list(fixture_model.predict_frame(frame).index) == [10, 20]


def test_forecast_band_is_the_80_percent_interval_and_maps_the_score_back_to_a_ratio(fixture_model):
    from liquidity.modeling import conformal

    forecast = fixture_model.forecast(**BITCOIN)
    assert forecast.score == fixture_model.predict_one(**BITCOIN).score
    low, high = conformal.interval(fixture_model.card["conformal"]["tables"]["1"], [forecast.score], 80)
    assert (forecast.band_low, forecast.band_high) == (low[0], high[0])
    assert forecast.band_low <= forecast.score <= forecast.band_high
    assert 0 <= forecast.band_low and forecast.band_high <= 1
    ratios = sorted(fixture_model.card["reference_snapshot"]["liquidity_ratios"])
    assert ratios[0] <= forecast.implied_ratio <= ratios[-1]
    assert forecast.implied_volume == pytest.approx(forecast.implied_ratio * BITCOIN["mkt_cap"])
    assert forecast.out_of_range == ()


def test_ratio_for_score_inverts_the_mid_rank_percentile(fixture_model):
    ratios = sorted(fixture_model.card["reference_snapshot"]["liquidity_ratios"])
    n = len(ratios)
    assert fixture_model.ratio_for_score((2 + 0.5) / n) == pytest.approx(ratios[2])


def test_one_score_maps_to_the_same_ratio_as_numpys_interpolation_bit_for_bit(fixture_model):
    n = len(fixture_model.reference)
    grid = [(i + 0.5) / n for i in range(n)]
    scores = [0.0, 1.0, -0.1, 1.1, *grid, *(math.nextafter(p, 2) for p in grid), *(math.nextafter(p, -1) for p in grid),
              *np.random.default_rng(7).random(2000).tolist()]
    expected = [float(ratio) for ratio in fixture_model.ratio_for_score(np.array(scores))]
    assert [fixture_model.ratio_for_one_score(score) for score in scores] == expected
    assert math.isnan(fixture_model.ratio_for_one_score(math.nan))


def test_forecast_flags_inputs_outside_the_training_range(fixture_model):
    forecast = fixture_model.forecast(volume=1e12, mkt_cap=760e9, h1=0.5, price=40000.0)
    assert forecast.out_of_range == ("volume", "1h")


def test_todays_score_is_ranked_in_the_snapshot_the_caller_passes(snapshots_dir, fixture_model):
    from liquidity.features import input_feature_row
    from liquidity.validation import check_inputs

    snapshot = load_snapshots(snapshots_dir / "day4.csv").frame
    ratios = np.sort((snapshot["volume"] / snapshot["mkt_cap"]).to_numpy())
    row = input_feature_row(*check_inputs(**BITCOIN), ratios)
    expected = fixture_model.forest.predict(fixture_model.scaler.transform(np.array([row])))[0]
    given = predict_liquidity(**BITCOIN, model=fixture_model, reference=snapshot)
    assert given.score == pytest.approx(expected, abs=1e-9)
    card_row = input_feature_row(*check_inputs(**BITCOIN), fixture_model.reference)
    assert predict_liquidity(**BITCOIN, model=fixture_model).score == pytest.approx(
        fixture_model.forest.predict(fixture_model.scaler.transform(np.array([card_row])))[0], abs=1e-9)


def test_forecast_snapshots_gives_one_row_per_coin_per_date_from_its_history(snapshots_dir, fixture_model):
    frame = load_snapshots(snapshots_dir).frame
    forecasts = fixture_model.forecast_snapshots(frame)
    assert list(forecasts.columns) == ["date", "coin_id", "symbol", "score", "forecast_score", "level", "band_low",
                                       "band_high"]
    assert len(forecasts) == len(frame)
    assert (forecasts["score"].to_numpy() == frame["liquidity_score"].to_numpy()).all()
    assert (forecasts["level"] == np.where(forecasts["forecast_score"] >= 0.5, "High", "Low")).all()
    assert (forecasts["band_low"] <= forecasts["band_high"]).all()
    last = forecasts[forecasts["date"] == "2024-01-04"].set_index("coin_id")
    only_last = fixture_model.forecast_snapshots(frame, dates=["2024-01-04"]).set_index("coin_id")
    assert (only_last["forecast_score"] == last["forecast_score"]).all()
    for coin, own in frame.groupby("coin_id"):
        one = fixture_model.forecast_history(own["date"].to_numpy(), own["volume"], own["mkt_cap"], own["1h"],
                                             own["price"], own["liquidity_score"])
        if own["date"].iloc[-1] == "2024-01-04":
            assert one.forecast_score == pytest.approx(last.loc[coin, "forecast_score"], abs=1e-12)
            assert one.score == last.loc[coin, "score"]
            assert (one.band_low, one.band_high) == pytest.approx((last.loc[coin, "band_low"],
                                                                   last.loc[coin, "band_high"]), abs=1e-12)


def test_forecast_snapshots_scores_a_snapshot_without_liquidity_scores(snapshots_dir, fixture_model):
    raw = load_snapshots(snapshots_dir).frame.drop(columns=["liquidity_score", "liquidity_ratio"])
    with_scores = load_snapshots(snapshots_dir).frame
    pd.testing.assert_frame_equal(fixture_model.forecast_snapshots(raw), fixture_model.forecast_snapshots(with_scores))


def test_forecast_snapshots_reads_a_store_frame_without_1h_as_missing(snapshots_dir, fixture_model):
    frame = load_snapshots(snapshots_dir).frame
    without = fixture_model.forecast_snapshots(frame.drop(columns=["1h", "liquidity_score", "liquidity_ratio"]))
    missing = fixture_model.forecast_snapshots(frame.assign(**{"1h": np.nan}))
    pd.testing.assert_frame_equal(without, missing)


def use_model(monkeypatch, folder):
    """Point the commands' model settings at the artifacts in folder."""
    paths = ArtifactPaths.in_folder(folder)
    for name, path in (("MODEL", paths.model), ("SCALER", paths.scaler), ("CARD", paths.card)):
        monkeypatch.setenv(f"LIQUIDITY_{name}_PATH", str(path))


def test_the_predict_command_ranks_a_coin_in_the_latest_stored_snapshot(market_store_in_tmp, snapshots_dir,
                                                                         fixture_model, trained_dir, tmp_path,
                                                                         monkeypatch):
    # A later snapshot than the fixture model's reference (2024-01-04), in which this coin ranks first of three.
    later = tmp_path / "later.csv"
    later.write_text("date,coin_id,coin,symbol,price,volume,mkt_cap\n"
                     "2024-01-05,a,A,A,1,1,100\n2024-01-05,b,B,B,1,2,100\n2024-01-05,c,C,C,1,3,100\n")
    with MarketStore(market_store_in_tmp, migrate=True) as store:
        import_snapshots(snapshots_dir, store)
        import_snapshots(later, store)
    coin = dict(volume=26e9, mkt_cap=800e9, h1=0.004, price=42000.0)
    use_model(monkeypatch, trained_dir)

    result = CliRunner().invoke(predict_command, [str(value) for value in coin.values()])  # DATABASE_URL: store's

    assert result.exit_code == 0, result.output
    ranked_in_store = predict_liquidity(**coin, model=fixture_model, reference=load_snapshots(later).frame)
    assert result.stdout.splitlines() == [
        f"liquidity score {ranked_in_store.score:.3f}  level {ranked_in_store.level}",
        "today's score ranked against the market store's latest snapshot (2024-01-05)"]
    assert ranked_in_store != fixture_model.predict_one(**coin)  # the card's reference ranks it differently


@pytest.mark.parametrize("store_file", ["absent", "empty"])
def test_the_predict_command_without_stored_data_ranks_in_the_cards_reference_and_writes_nothing(
        store_file, fixture_model, trained_dir, tmp_path, monkeypatch):
    path = tmp_path / "store" / "market.db"
    if store_file == "empty":
        path.parent.mkdir()
        path.touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    use_model(monkeypatch, trained_dir)
    coin = dict(volume=26e9, mkt_cap=800e9, h1=0.004, price=42000.0)

    result = CliRunner().invoke(predict_command, [str(value) for value in coin.values()])

    assert result.exit_code == 0, result.output
    expected = predict_liquidity(**coin, model=fixture_model)
    first, source = result.stdout.splitlines()
    assert first == f"liquidity score {expected.score:.3f}  level {expected.level}"
    assert source.startswith("today's score ranked against the model card's reference snapshot (2024-01-04): ")
    if store_file == "empty":
        assert path.stat().st_size == 0 and "no schema yet" in source
    else:
        assert not path.parent.exists() and "there is no store at" in source


# Runs in a fresh interpreter: predict_liquidity with every default (the committed model, the card's reference).
DEFAULT_CALL = ("from liquidity.modeling.predict import predict_liquidity; "
                "print(predict_liquidity(volume=30e9, mkt_cap=760e9, h1=0.01, price=40000.0).level)")


@pytest.mark.slow
@pytest.mark.parametrize("store_file", ["absent", "empty"])
def test_predict_liquidity_never_creates_or_migrates_the_store_at_database_url(store_file, tmp_path):
    path = tmp_path / "market.db"
    if store_file == "empty":
        path.touch()
    environment = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{path}", "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run([sys.executable, "-c", DEFAULT_CALL], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() in ("High", "Low")
    if store_file == "empty":
        assert path.stat().st_size == 0  # not a table, not even a SQLite header
    else:
        assert not path.exists()


def test_predict_liquidity_with_a_model_given_leaves_an_empty_store_file_untouched(fixture_model, tmp_path,
                                                                                   monkeypatch):
    path = tmp_path / "market.db"
    path.touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    for _ in range(2):
        assert predict_liquidity(**BITCOIN, model=fixture_model) == fixture_model.predict_one(**BITCOIN)
    assert path.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["market.db"]
