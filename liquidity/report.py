"""Build the EDA report: python -m liquidity report --data PATH --model-dir DIR --out EDA_REPORT.

Writes report.html, report.css and figures/*.png into the output folder. Every number in the page is
computed here from the snapshots, the model card and the held-out predictions saved beside it.
The page has no script and no inline style, so the app can serve it under a strict CSP.
Plotting needs the development requirements (matplotlib); importing this module does not.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from liquidity.artifacts import CARD_FILE, PREDICTIONS_FILE, ArtifactError, read_card, sha256_file
from liquidity.dataset import load_snapshots, make_pairs
from liquidity.features import FEATURE_DESCRIPTIONS, FEATURE_NAMES, with_features
from liquidity.files import write_atomically
from liquidity.paths import REPORT_DIR
from liquidity.schema import BY_COLUMN

DEFAULT_OUT = REPORT_DIR  # where the report command writes unless told
ASSETS = Path(__file__).resolve().parent / "report_assets"
REPORT_FILE = "report.html"
STYLE_FILE = "report.css"
FIGURES_DIR = "figures"
PREDICTION_COLUMNS = ("date", "next_liquidity_score", "predicted_random_forest", "predicted_linear_regression")

# A stablecoin behaves like one dollar: price within STABLE_PRICE_TOLERANCE of 1 USD and a price change (see
# price_change) no larger than STABLE_CHANGE_LIMIT, on every snapshot of the coin.
STABLE_PRICE_TOLERANCE = 0.02
STABLE_CHANGE_LIMIT = 0.01
OUTLIER_ROWS_SHOWN = 10
# The rows-per-date table lists each date up to DATES_LISTED dates, else each month up to MONTHS_LISTED months,
# else each year: the daily history's 2,922 dates would make a table nobody reads.
DATES_LISTED = 31
MONTHS_LISTED = 36
RESIDUAL_QUANTILE = 0.9

# The model's four inputs are described by liquidity.schema; 24h and 7d are snapshot columns the model does not read.
EXTRA_COLUMNS = {"24h": ("price change over 24 hours", "fraction"), "7d": ("price change over 7 days", "fraction")}
COLUMN_ORDER = ("price", "1h", "24h", "7d", "volume", "mkt_cap")
COLUMN_MEANINGS = {column: BY_COLUMN[column].description if column in BY_COLUMN else EXTRA_COLUMNS[column][0]
                   for column in COLUMN_ORDER}
COLUMN_UNITS = {column: BY_COLUMN[column].unit if column in BY_COLUMN else EXTRA_COLUMNS[column][1]
                for column in COLUMN_ORDER}
MODEL_ORDER = ("random_forest", "persistence", "mean_7_days", "linear_regression")
MODEL_LABELS = {"random_forest": "tuned random forest", "persistence": "persistence (next score = today's)",
                "mean_7_days": "the coin's 7-day mean score", "linear_regression": "linear regression"}
# The pages of the web app: the main ones in the report's header (as in the site's own header), every one in its
# footer with what it is (path, description).
# tests/test_report.py checks them against the app's routes and liquidity.web.errors.SITE_PAGES.
SITE_NAVIGATION = (("/", "Home"), ("/coins", "Coins"), ("/batch", "Batch"), ("/model", "Model"),
                   ("/monitor", "Monitor"), ("/alerts", "Alerts"), ("/report/", "Report"), ("/docs/api", "API docs"))
SITE_LINKS = (
    ("/", "forecast one coin from its 24h volume, market cap, 1h change and price"),
    ("/coins", "every stored coin with its score today and its forecast"),
    ("/monitor", "how past forecasts turned out, against persistence"),
    ("/alerts", "alert rules on coins about to dry up, and the alerts raised"),
    ("/batch", "score a whole snapshot CSV and download the result"),
    ("/model", "the model card: data, accuracy next to its baselines, features"),
    ("/report/", "this report"),
    ("/docs/api", "the JSON API, for programs"),
    ("/api/v1/openapi.json", "the API's OpenAPI document"),
    ("/healthz", "the health check"),
)


class ReportError(Exception):
    """An input the report cannot be built from, with the file named."""


@dataclass(frozen=True)
class BuiltReport:
    """Where the report went and what it references."""

    html: Path
    figures: tuple


def usd(value):
    """Format a USD amount with thousands separators."""
    return f"{value:,.0f}"


def number(value, digits=3):
    """Format a plain number to digits decimals, or n/a."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def significant(value):
    """Format a value to four significant digits (prices span twelve decades)."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4g}"


def percent(fraction, digits=1):
    """Format a fraction as a signed percentage."""
    return "n/a" if fraction is None or not np.isfinite(fraction) else f"{fraction * 100:+.{digits}f} %"


def format_value(column, value):
    """Format one raw column value the way the report shows it."""
    if column in ("volume", "mkt_cap"):
        return usd(value)
    if column in ("1h", "24h", "7d"):
        return percent(value)
    return significant(value)


def day_over_day_change(frame):
    """Return each row's price change since the same coin's row of the calendar day before (NaN without one)."""
    keys = frame["coin_id"] if "coin_id" in frame.columns else frame["coin"] + ":" + frame["symbol"]
    rows = pd.DataFrame({"key": keys.to_numpy(), "day": pd.to_datetime(frame["date"]).to_numpy(),
                         "price": frame["price"].to_numpy(dtype=float)}).sort_values(["key", "day"], kind="stable")
    follows = rows["key"].eq(rows["key"].shift()) & (rows["day"] - rows["day"].shift()).eq(pd.Timedelta(days=1))
    change = np.full(len(frame), np.nan)
    change[rows.index.to_numpy()] = (rows["price"] / rows["price"].shift() - 1).where(follows).to_numpy()
    return pd.Series(change, index=frame.index)


def price_change(frame):
    """Return each row's price change as a fraction: the 24h change, else the 1h one, else the day-over-day one.

    The daily history has no 1h or 24h column; its prices are taken at 00:00 UTC each day, so the change since
    the coin's row of the day before is its 24h change.
    """
    change = frame["24h"].where(frame["24h"].notna(), frame["1h"])
    if change.isna().any():
        change = change.where(change.notna(), day_over_day_change(frame))
    return change


def stablecoin_coins(frame):
    """Return the (coin, symbol) keys that behave like a dollar on every one of their snapshots.

    A row whose change cannot be known (a coin's first day in data without a 24h or 1h column) is judged on
    its price alone.
    """
    change = price_change(frame)
    pegged = ((frame["price"] - 1).abs() <= STABLE_PRICE_TOLERANCE) & ~(change.abs() > STABLE_CHANGE_LIMIT)
    per_coin = pegged.groupby([frame["coin"], frame["symbol"]]).all()
    return set(per_coin[per_coin].index)


def find_outliers(frame):
    """Return {category: rows} for volume above market cap, stablecoins and zero volume, most telling first."""
    # The stablecoin set is computed once; asking for it per row made a 65,841-row frame take ten minutes.
    stable = pd.MultiIndex.from_arrays([frame["coin"], frame["symbol"]]).isin(list(stablecoin_coins(frame)))
    return {
        "24h volume above market cap": frame[frame["volume"] > frame["mkt_cap"]].sort_values(
            "liquidity_ratio", ascending=False),
        "stablecoin": frame[stable].sort_values(["mkt_cap", "date"], ascending=[False, True]),
        "zero 24h volume": frame[frame["volume"] == 0].sort_values("mkt_cap", ascending=False),
    }


def column_summary(frame):
    """Return one row of counts and quantiles per raw numeric column."""
    from liquidity.plots import decades_spanned, uses_log_axis

    rows = []
    for column in COLUMN_UNITS:
        values = frame[column].to_numpy(dtype=float)
        present = values[np.isfinite(values)]
        row = {"column": column, "meaning": COLUMN_MEANINGS[column], "unit": COLUMN_UNITS[column],
               "values": len(present), "missing": int(len(values) - len(present)),
               "zeros": int((present == 0).sum())}
        if len(present):
            row.update(minimum=format_value(column, present.min()), median=format_value(column, np.median(present)),
                       maximum=format_value(column, present.max()), decades=number(decades_spanned(present), 1),
                       axis="log" if uses_log_axis(present) else "linear")
        else:
            row.update(minimum="n/a", median="n/a", maximum="n/a", decades="n/a", axis="none")
        rows.append(row)
    return rows


def load_model_inputs(model_dir):
    """Read the model card and the held-out predictions saved beside it, or raise ReportError."""
    model_dir = Path(model_dir)
    try:
        card = read_card(model_dir / CARD_FILE)
    except ArtifactError as error:
        raise ReportError(str(error)) from None
    try:
        card["validation"]["models"]["random_forest"]["r2"]
        card["feature_importances"].items()
        card["hyperparameters"].items()
    except (KeyError, TypeError, AttributeError):
        raise ReportError(f"{model_dir / CARD_FILE}: model card lacks validation metrics, feature importances "
                          "or hyper-parameters (retrain with liquidity.modeling.train)") from None
    path = model_dir / PREDICTIONS_FILE
    try:
        predictions = pd.read_csv(path)
    except FileNotFoundError:
        raise ReportError(f"{path}: held-out predictions not found (training writes them beside the card)") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ReportError(f"{path}: unreadable ({error.__class__.__name__})") from None
    missing = [column for column in PREDICTION_COLUMNS if column not in predictions.columns]
    if missing:
        raise ReportError(f"{path}: missing column {missing[0]!r}")
    return card, predictions


def _figures(snapshots, pairs, card, predictions):
    """Yield (file name, caption, figure) for every figure of the report, in page order."""
    from liquidity import plots

    frame = snapshots.frame
    for column in COLUMN_UNITS:
        values = frame[column].dropna()
        if len(values):
            yield (f"hist_{column}.png", f"{column}: {COLUMN_MEANINGS[column]}",
                   plots.histogram_with_kde(values, column, COLUMN_UNITS[column]))
    yield ("liquidity_ratio.png", "liquidity ratio (24h volume / market cap)",
           plots.histogram_with_kde(frame["liquidity_ratio"], "liquidity ratio", "volume / market cap"))
    yield "liquidity_score.png", "liquidity score", plots.score_histogram(frame["liquidity_score"])
    yield ("feature_correlations.png", "correlations of the engineered features",
           plots.correlation_heatmap(plots.correlation_matrix(pairs)))
    models = card["validation"]["models"]
    yield ("model_comparison.png", "model comparison",
           plots.model_comparison_chart({name: models[name] for name in MODEL_ORDER if name in models}))
    yield "feature_importances.png", "feature importances", plots.importance_chart(card["feature_importances"])
    yield ("predicted_vs_actual.png", "predicted vs actual (held out)",
           plots.predicted_vs_actual(predictions["next_liquidity_score"], predictions["predicted_random_forest"]))
    yield ("residuals.png", "residuals (held out)",
           plots.residual_plot(predictions["next_liquidity_score"], predictions["predicted_random_forest"]))


def _metric_rows(block):
    rows = []
    for name in [*MODEL_ORDER, *(n for n in block["models"] if n not in MODEL_ORDER)]:
        if name not in block["models"]:
            continue
        metrics = block["models"][name]
        rows.append({"name": MODEL_LABELS.get(name, name),
                     **{key: number(metrics.get(key)) for key in ("r2", "mae", "spearman", "accuracy", "f1",
                                                                  "roc_auc")}})
    return rows


def _outlier_context(frame):
    change = price_change(frame)
    sections = []
    for category, rows in find_outliers(frame).items():
        shown = rows.head(OUTLIER_ROWS_SHOWN).assign(change=change)
        sections.append({
            "category": category, "count": len(rows), "coins": rows[["coin", "symbol"]].drop_duplicates().shape[0],
            "shown": len(shown),
            "median_ratio": number(rows["liquidity_ratio"].median()) if len(rows) else "n/a",
            "rows": [{"coin": r.coin, "symbol": r.symbol, "date": r.date, "price": significant(r.price),
                      "change": percent(r.change),
                      "volume": usd(r.volume), "mkt_cap": usd(r.mkt_cap), "ratio": number(r.liquidity_ratio),
                      "score": number(r.liquidity_score)}
                     for r in shown.itertuples(index=False)],
        })
    return sections


def absent_columns(frame):
    """Return the raw columns with no value at all in frame (the daily history has no 1h, 24h or 7d)."""
    return [column for column in COLUMN_ORDER if not frame[column].notna().any()]


def is_daily(dates):
    """Say whether the sorted dates are consecutive calendar days (the daily history), not scattered snapshots."""
    days = pd.to_datetime(pd.Series(dates)).diff().dt.days.dropna()
    return len(dates) > 2 and bool(days.eq(1).all())


def rows_by_period(frame):
    """Return (period name, rows): rows kept and coins per date for each date, month or year, whichever is short."""
    per_date = frame.groupby("date").size()
    months = per_date.index.str[:7]
    if len(per_date) <= DATES_LISTED:
        name, periods = "date", per_date.index
    elif months.nunique() <= MONTHS_LISTED:
        name, periods = "month", months
    else:
        name, periods = "year", per_date.index.str[:4]
    rows = []
    for period, counts in per_date.groupby(periods, sort=True):
        rows.append({"period": period, "dates": len(counts), "rows": int(counts.sum()),
                     "fewest": int(counts.min()), "most": int(counts.max())})
    return name, rows


def _data_match(snapshots, card):
    trained = {(f["name"], f["sha256"]) for f in card.get("data", {}).get("files", [])}
    here = {(Path(f).name, sha256_file(f)) for f in snapshots.files}
    return trained == here


def report_context(snapshots, pairs, card, predictions, figures):
    """Return everything the template shows, every number computed and formatted here."""
    from liquidity.modeling.evaluation import score_metrics
    from liquidity.plots import LOG_AXIS_DECADES, correlation_matrix

    frame = snapshots.frame
    ratio = frame["liquidity_ratio"]
    absent = absent_columns(frame)
    period, periods = rows_by_period(frame)
    correlations = correlation_matrix(pairs)["next_liquidity_score"].drop("next_liquidity_score")
    strongest = correlations.abs().idxmax()
    threshold = float(card.get("threshold", 0.5))
    recomputed = score_metrics(predictions["next_liquidity_score"], predictions["predicted_random_forest"],
                               predictions["date"], threshold)
    grouped = card["validation"]
    four_input = card["validation"].get("four_input")
    residuals = predictions["next_liquidity_score"] - predictions["predicted_random_forest"]
    forest = grouped["models"]["random_forest"]
    persistence = grouped["models"].get("persistence")
    return {
        "files": [{"name": Path(f).name, "sha256": sha256_file(f)[:12]} for f in snapshots.files],
        "rows_read": snapshots.rows_read,
        "rows_kept": len(frame),
        "dropped": [{"reason": reason, "count": count} for reason, count in snapshots.dropped.most_common()],
        "rows_dropped": sum(snapshots.dropped.values()),
        "duplicates_resolved": snapshots.duplicates_resolved,
        "period": period,
        "periods": periods,
        "date_count": len(snapshots.dates),
        "first_date": snapshots.dates[0],
        "last_date": snapshots.dates[-1],
        "daily": is_daily(snapshots.dates),
        "coins": frame["coin_id"].nunique(),
        "pairs": len(pairs),
        "columns": [row for row in column_summary(frame) if row["column"] not in absent],
        "absent_columns": absent,
        "log_decades": number(LOG_AXIS_DECADES, 0),
        "ratio_median": number(ratio.median()),
        "ratio_above_one": int((ratio > 1).sum()),
        "ratio_max": number(ratio.max()),
        "score_note_median": number(frame["liquidity_score"].median()),
        "stable_price_tolerance": percent(STABLE_PRICE_TOLERANCE, 0).lstrip("+"),
        "stable_change_limit": percent(STABLE_CHANGE_LIMIT, 0).lstrip("+"),
        "outliers": _outlier_context(frame),
        "outlier_rows_shown": OUTLIER_ROWS_SHOWN,
        "features": [{"name": name, "description": FEATURE_DESCRIPTIONS[name],
                      "r": number(correlations[name])} for name in FEATURE_NAMES],
        "features_without_r": [name for name in FEATURE_NAMES if not np.isfinite(correlations[name])],
        "strongest_feature": strongest,
        "strongest_r": number(correlations[strongest]),
        "card": {
            "version": card.get("model_version", "n/a"),
            "created_at": card.get("created_at", "n/a"),
            "dates": " to ".join(card.get("data", {}).get("training_dates", [])),
            "pairs": card.get("data", {}).get("training_pairs", "n/a"),
            "training": card.get("training", {}),
            "coins": card.get("data", {}).get("coins", "n/a"),
            "same_data": _data_match(snapshots, card),
            "threshold": number(threshold, 2),
            "target": card.get("target", ""),
            "hyperparameters": [{"name": k, "value": "None" if v is None else v}
                                for k, v in card["hyperparameters"].items()],
            "selection_cv_r2": number(card.get("selection_cv_r2")),
            "folds": grouped.get("folds", "n/a"),
            "pairs_tested": grouped.get("pairs_tested", "n/a"),
            "importances": [{"name": k, "value": number(v)} for k, v in
                            sorted(card["feature_importances"].items(), key=lambda item: -item[1])],
            "note": card["validation"].get("note", ""),
            "versions": ", ".join(f"{k} {v}" for k, v in card.get("versions", {}).items()),
        },
        "forest_r2": number(forest["r2"]),
        "forest_mae": number(forest["mae"]),
        "persistence_r2": number(persistence["r2"]) if persistence else "n/a",
        "forest_minus_persistence_r2": (f"{round(forest['r2'] - persistence['r2'], 3) + 0.0:+.3f}"
                                        if persistence else "n/a"),
        "grouped_rows": _metric_rows(grouped),
        "origins": ", ".join(split["origin"] for split in grouped["splits"] if split["coin_fold"] == 0),
        "four_input": ({"pairs_tested": four_input.get("pairs_tested"), "rows": _metric_rows(four_input)}
                       if four_input else None),
        "predictions_rows": len(predictions),
        "recomputed_r2": number(recomputed["r2"]),
        "recomputed_matches": bool(np.isclose(recomputed["r2"], forest["r2"], rtol=0, atol=1e-9)),
        "residual_mean": f"{round(residuals.mean(), 3) + 0.0:+.3f}",  # + 0.0 turns -0.000 into +0.000
        "residual_sd": number(residuals.std(ddof=0)),
        "residual_quantile": f"{RESIDUAL_QUANTILE:.0%}",
        "residual_abs_quantile": number(residuals.abs().quantile(RESIDUAL_QUANTILE)),
        "figures": figures,
        "site_navigation": SITE_NAVIGATION,
        "site_links": SITE_LINKS,
    }


def _clear_stale_figures(folder, keep):
    if folder.is_dir():
        for path in folder.iterdir():
            if path.suffix in (".png", ".svg") and path.name not in keep:
                path.unlink()


def build_report(data, model_dir, out):
    """Load the snapshots and the model's held-out results, draw every figure, write the HTML; return BuiltReport."""
    try:  # fail early, before any file is written
        import matplotlib  # noqa: F401  (the one plotting dependency, absent from the production image)

        from liquidity import plots
    except ImportError as error:
        raise ReportError(f"the report needs the development requirements ({error.name} is missing): "
                          "pip install -r requirements-dev.txt") from None
    snapshots = load_snapshots(data)
    pairs = make_pairs(with_features(snapshots.frame))
    card, predictions = load_model_inputs(model_dir)
    out = Path(out)
    figures_dir = out / FIGURES_DIR
    figures = {}
    for name, caption, figure in _figures(snapshots, pairs, card, predictions):
        plots.save_figure(figure, figures_dir / name)
        figures[name] = {"src": f"{FIGURES_DIR}/{name}", "caption": caption}
    _clear_stale_figures(figures_dir, set(figures))
    environment = Environment(loader=FileSystemLoader(ASSETS), autoescape=True, undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    html = environment.get_template("report.html.j2").render(
        **report_context(snapshots, pairs, card, predictions, figures))
    shutil.copyfile(ASSETS / STYLE_FILE, out / STYLE_FILE)
    write_atomically(out / REPORT_FILE, html.encode("utf-8"))
    return BuiltReport(html=out / REPORT_FILE, figures=tuple(figures_dir / name for name in figures))
