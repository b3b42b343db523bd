"""Conformal intervals: coverage on a series with known noise, and no outcome from after the calibration date."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from liquidity.modeling import conformal


def noisy_forecasts(days=300, per_day=200, seed=4):
    """Forecasts in (0.2, 0.8) whose outcomes add Gaussian noise growing with them: sd 0.01 + 0.05 * forecast."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days)
    predicted = rng.uniform(0.2, 0.8, (days, per_day))
    actual = predicted + rng.normal(0, 1, predicted.shape) * (0.01 + 0.05 * predicted)
    return pd.DataFrame({"date": np.repeat(dates.strftime("%Y-%m-%d"), per_day),
                         "target_date": np.repeat((dates + pd.Timedelta(days=7)).strftime("%Y-%m-%d"), per_day),
                         "predicted": predicted.ravel(), "actual": actual.ravel()})


def test_daily_recalibrated_intervals_cover_the_nominal_share_overall_and_in_every_quintile():
    forecasts = noisy_forecasts()
    rolled = conformal.rolling_intervals(forecasts, first_date="2024-04-10")
    report = conformal.coverage_report(rolled)
    assert report["rows"] == len(rolled) == 200 * 200
    assert report["coverage80"] == pytest.approx(0.80, abs=0.01)
    assert report["coverage90"] == pytest.approx(0.90, abs=0.01)
    # The noise grows with the forecast: one width for all would over-cover the low quintile and under-cover the top.
    for quintile in report["by_quintile"]:
        assert quintile["coverage80"] == pytest.approx(0.80, abs=0.02)
        assert quintile["coverage90"] >= 0.88
    widths = [q["width80"] for q in report["by_quintile"]]
    assert widths == sorted(widths)
    assert all(month["coverage80"] == pytest.approx(0.80, abs=0.03) for month in report["by_month"])


def test_coverage_is_reported_by_the_month_of_the_forecast_and_by_the_month_of_its_outcome():
    rows = pd.DataFrame({"date": ["2024-01-30", "2024-01-31", "2024-02-01"],
                         "target_date": ["2024-02-29", "2024-03-01", "2024-03-02"],
                         "predicted": [0.5] * 3, "actual": [0.5, 0.9, 0.5], "low80": [0.4] * 3, "high80": [0.6] * 3,
                         "low90": [0.3] * 3, "high90": [0.7] * 3})
    report = conformal.coverage_report(rows)
    assert [(m["month"], m["rows"], m["coverage80"]) for m in report["by_month"]] == [("2024-01", 2, 0.5),
                                                                                        ("2024-02", 1, 1.0)]
    assert [(m["month"], m["rows"], m["coverage80"]) for m in report["by_outcome_month"]] == [("2024-02", 1, 1.0),
                                                                                                ("2024-03", 2, 0.5)]
    assert report["per_date80"] == {"dates": 3, "sd": pytest.approx(np.std([1, 0, 1], ddof=1)), "min": 0.0,
                                    "max": 1.0, "outside_3_points": 1.0}
    assert conformal.coverage_report(rows.iloc[:0])["by_outcome_month"] == []


def test_a_bins_half_width_is_the_noise_quantile():
    rng = np.random.default_rng(9)
    predicted = rng.uniform(0.4, 0.6, 50_000)
    table = conformal.table_from_rows(predicted, predicted + rng.normal(0, 0.05, len(predicted)))
    assert len(table["edges"]) == 4
    for level in (80, 90):
        expected = norm.ppf(0.5 + level / 200) * 0.05  # |N(0, sd)| at level
        assert table["half_widths"][str(level)] == pytest.approx([expected] * 5, rel=0.04)


def test_an_outcome_after_the_calibration_date_does_not_move_the_interval():
    forecasts = noisy_forecasts(days=120, per_day=50)
    day = "2024-04-20"
    table = conformal.calibration_table(forecasts, day)
    future = pd.DataFrame({"date": ["2024-04-19"] * 500, "target_date": ["2024-04-21"] * 500,
                           "predicted": [0.5] * 500, "actual": [0.99] * 500})
    assert conformal.calibration_table(pd.concat([forecasts, future]), day) == table
    # The same rows known one day earlier do move it: the check above could fail.
    known = future.assign(target_date="2024-04-20")
    assert conformal.calibration_table(pd.concat([forecasts, known]), day) != table
    assert table["forecast_dates"][-1] == "2024-04-13"  # a 7-day outcome known on 04-20 was forecast on 04-13
    assert len(pd.date_range(*table["forecast_dates"])) == conformal.WINDOW_DAYS


def test_too_few_outcomes_give_the_whole_score_range():
    table = conformal.table_from_rows([0.5, 0.6], [0.52, 0.58])
    assert table["edges"] == [] and table["half_widths"] == {"80": [1.0], "90": [1.0]}
    low, high = conformal.interval(table, np.array([0.3]), 80)
    assert (low[0], high[0]) == (0.0, 1.0)
    assert conformal.calibration_table(noisy_forecasts(days=5).iloc[:0], "2024-01-05")["rows"] == 0


def test_one_row_intervals_equal_the_vectorised_ones():
    forecasts = noisy_forecasts(days=100, per_day=30)
    table = conformal.calibration_table(forecasts, "2024-04-09")
    prepared = conformal.Intervals(table)
    scores = np.concatenate([np.linspace(0, 1, 101), table["edges"]])
    for level in (80, 90):
        low, high = conformal.interval(table, scores, level)
        assert [prepared.row(float(s), level) for s in scores] == list(zip(low.tolist(), high.tolist()))
    assert (low >= 0).all() and (high <= 1).all()


def test_tables_for_several_horizons_come_from_each_horizons_own_forecasts():
    week = noisy_forecasts(days=60, per_day=40).assign(horizon=7).drop(columns="target_date")
    month = noisy_forecasts(days=60, per_day=40, seed=5).assign(horizon=30).drop(columns="target_date")
    month["actual"] = month["predicted"] + (month["actual"] - month["predicted"]) * 3  # three times the noise
    tables = conformal.calibration_tables(pd.concat([week, month]), "2024-02-29", (7, 30))
    assert tables["7"] == conformal.calibration_table(week.assign(target_date=(
        pd.to_datetime(week["date"]) + pd.Timedelta(days=7)).dt.strftime("%Y-%m-%d")), "2024-02-29")
    assert tables["7"]["forecast_dates"][-1] == "2024-02-22" and tables["30"]["forecast_dates"][-1] == "2024-01-30"
    assert np.mean(tables["30"]["half_widths"]["80"]) > 2 * np.mean(tables["7"]["half_widths"]["80"])


def test_weekly_coverage_counts_the_outcomes_inside_each_weeks_intervals():
    rows = pd.DataFrame({"date": ["2024-01-01", "2024-01-07", "2024-01-08", "2024-01-09", "2024-01-10"],
                         "predicted": [0.5] * 5, "actual": [0.5, 0.9, 0.5, 0.5, np.nan],
                         "low80": [0.4] * 5, "high80": [0.6] * 5, "low90": [0.3] * 5, "high90": [0.95] * 5})
    weeks = conformal.weekly_coverage(rows)
    assert [w["week"] for w in weeks] == ["2024-01-01", "2024-01-08"]
    assert (weeks[0]["rows"], weeks[0]["coverage80"], weeks[0]["coverage90"]) == (2, 0.5, 1.0)
    assert (weeks[1]["rows"], weeks[1]["coverage80"]) == (2, 1.0)  # the row without an outcome is not counted
    assert weeks[1]["width90"] == pytest.approx(0.65)


def jumping_forecasts(horizon, sd, jump_date="2024-04-10", days=160, per_day=200, seed=4):
    """Forecasts in (0.3, 0.7) whose outcomes add Gaussian noise of sd, 1.5 x sd for forecasts dated jump_date on."""
    rng = np.random.default_rng(seed + horizon)
    dates = pd.date_range("2024-01-01", periods=days)
    predicted = rng.uniform(0.3, 0.7, (days, per_day))
    noise = np.where(dates >= pd.Timestamp(jump_date), 1.5 * sd, sd)[:, None]
    return pd.DataFrame({"date": np.repeat(dates.strftime("%Y-%m-%d"), per_day),
                         "target_date": np.repeat((dates + pd.Timedelta(days=horizon)).strftime("%Y-%m-%d"), per_day),
                         "predicted": predicted.ravel(),
                         "actual": (predicted + rng.normal(0, 1, predicted.shape) * noise).ravel()})


def coverage_between(rolled, first, last):
    rows = rolled[(rolled["date"] >= first) & (rolled["date"] <= last)]
    return ((rows["actual"] >= rows["low80"]) & (rows["actual"] <= rows["high80"])).mean()


def test_the_spread_factor_moves_the_30_day_interval_within_days_of_a_jump_in_the_noise():
    # The noise of every forecast grows by half on 2024-04-10. The 30-day outcomes of the new regime land a month
    # later; the 1-day ones the next day.
    day, month = jumping_forecasts(1, 0.02), jumping_forecasts(30, 0.05)
    plain = conformal.rolling_intervals(month, first_date="2024-03-01")
    scaled = conformal.rolling_intervals(month, first_date="2024-03-01", shortest=day)
    # Before the jump both hold 80 %.
    for rolled in (plain, scaled):
        assert coverage_between(rolled, "2024-03-01", "2024-04-09") == pytest.approx(0.80, abs=0.03)
    # From FRESH_DAYS + 1 days after it until its 30-day outcomes reach the window, the unscaled interval is still
    # the calm market's; the scaled one has recovered part of the loss (the square root damps a 1.5 x jump to ~1.2 x,
    # less as the jump's own days enter the factor's denominator).
    lost, recovered = (coverage_between(rolled, "2024-04-14", "2024-05-09") for rolled in (plain, scaled))
    assert lost < 0.65 and recovered > lost + 0.04
    between = scaled["date"].between("2024-04-14", "2024-05-09").to_numpy()
    widened = (scaled["high80"] - scaled["low80"])[between].mean() / (plain["high80"] - plain["low80"])[between].mean()
    assert 1.1 < widened < 1.25
    # Once the window holds the new regime's outcomes (horizon + window days later) both cover 80 % again.
    for rolled in (plain, scaled):
        assert coverage_between(rolled, "2024-05-25", "2024-06-08") == pytest.approx(0.80, abs=0.03)


def test_the_spread_factor_is_the_ratio_of_fresh_to_spanned_1_day_misses_damped_by_the_square_root():
    day = jumping_forecasts(1, 0.02)
    misses = conformal.ShortestMisses(day)
    calm = conformal._days(["2024-03-20"])[0]
    assert misses.factor(calm, calm - 40) == pytest.approx(1.0, abs=0.05)
    # Three fresh days after the jump against 40 days of which 36 were calm: (1.5 / (1 + 0.5 * 4 / 40)) ** 0.5.
    after = conformal._days(["2024-04-14"])[0]
    assert misses.factor(after, after - 40) == pytest.approx((1.5 / 1.05) ** 0.5, rel=0.03)
    # Nothing known, or no miss at all: no scaling.
    assert misses.factor(conformal._days(["2023-12-01"])[0], 0) == 1.0
    exact = day.assign(actual=day["predicted"])
    assert conformal.ShortestMisses(exact).factor(after, after - 40) == 1.0


def test_a_1_day_outcome_after_the_calibration_date_does_not_move_the_30_day_interval():
    day, month = jumping_forecasts(1, 0.02, days=90), jumping_forecasts(30, 0.05, days=90)
    on = "2024-03-20"
    table = conformal.calibration_table(month, on, shortest=day)
    unscaled = conformal.calibration_table(month, on)
    assert table["spread_factor"] != 1.0 and table["half_widths"] != unscaled["half_widths"]
    future = pd.DataFrame({"date": ["2024-03-20"] * 500, "target_date": ["2024-03-21"] * 500,
                           "predicted": [0.5] * 500, "actual": [0.99] * 500})
    assert conformal.calibration_table(month, on, shortest=pd.concat([day, future])) == table
    # The same misses known on the day do move it: the check above could fail.
    known = future.assign(date="2024-03-19", target_date="2024-03-20")
    assert conformal.calibration_table(month, on, shortest=pd.concat([day, known]))["spread_factor"] > \
        table["spread_factor"]


def test_a_whole_range_half_width_is_not_scaled():
    table = conformal.scaled(conformal.table_from_rows([0.5, 0.6], [0.52, 0.58]), 0.7)
    assert table["half_widths"] == {"80": [1.0], "90": [1.0]} and table["spread_factor"] == 0.7
    wide = conformal.scaled({"edges": [], "half_widths": {"80": [0.9]}}, 1.5)
    assert wide["half_widths"] == {"80": [1.0]}
