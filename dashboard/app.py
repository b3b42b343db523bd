"""The risk desk's dashboard: the biggest forecast drops, one coin's outlook and a forecast from four numbers, all read
from the liquidity predictor's public JSON API (`streamlit run dashboard/app.py`)."""

import math

import altair as alt
import pandas as pd
import streamlit as st
from api_client import ApiError, ApiProblem, LiquidityApi, api_url, number

TITLE = "Crypto liquidity dashboard"
HORIZONS = (1, 7, 30)
MOVER_COUNTS = (10, 25, 50, 100)
# ?cap= of /api/v1/coins: the market-cap bands a risk desk names coins by
CAP_BANDS = {"": "Any size", "large": "Large (over $10B)", "mid": "Mid ($1B to $10B)",
             "small": "Small ($100M to $1B)", "micro": "Micro (under $100M)"}
HISTORY_DAYS = 60
VIEWS = ("Biggest movers", "One coin", "Forecast from four numbers")
# The four inputs of /api/v1/predict: (JSON key, label, what to type, example, typed in percent)
INPUTS = (("24h_volume", "24h trading volume (US dollars)", "Total traded over the last 24 hours.", "20476118020",
           False),
          ("mkt_cap", "Market cap (US dollars)", "Price times circulating supply.", "776077432316", False),
          ("1h", "Price change over the last hour (%)", "Type 2.2 for +2.2 %, -0.5 for -0.5 %.", "0.1", True),
          ("price", "Price (US dollars)", "One coin in US dollars.", "40851.38", False))
LABELS = {key: label for key, label, *_ in INPUTS}
SCORE_MEANING = ("The **liquidity score** ranks a coin's turnover (24h volume divided by market cap) among all coins "
                 "of the same day: 0 is the least liquid coin, 1 the most. A coin is **High** when its score is at "
                 "or above the model's threshold, **Low** below it.")
RANGE_MEANING = ("The 80 % range holds the actual score about 8 times in 10, the 90 % range about 9 times in 10: "
                 "a wide range means the forecast is unsure.")


def score_text(value):
    return "unknown" if value is None else f"{value:.3f}"


def range_text(interval):
    """Return an interval of the API as 'low to high'."""
    low, high = number((interval or {}).get("low")), number((interval or {}).get("high"))
    return "unknown" if low is None or high is None else f"{low:.3f} to {high:.3f}"


def days_text(days):
    return "1 day" if days == 1 else f"{days} days"


def field_key(path):
    """Return the input's JSON key an error's path names ("$[0].mkt_cap" -> "mkt_cap"), else the path."""
    path = str(path or "")
    return path.rsplit(".", 1)[-1] if path.startswith("$") else path


def show_problem(problem):
    """Show why a call failed, in the API's words."""
    if not isinstance(problem, ApiError):
        st.error(str(problem))
        return
    lines = [str(problem)]
    keys = [field_key(path) for path, _ in problem.errors]
    for key, (path, reason) in zip(keys, problem.errors):
        lines.append(f"- {LABELS.get(key, path or 'the request')}: {reason}")
    if "1h" in keys:
        lines.append("(The API reads the hour's change as a fraction: this page sends 2.2 % as 0.022.)")
    st.error("\n".join(lines))


def movers_view(api):
    st.header("Biggest movers")
    st.write("Coins whose liquidity score is forecast to fall the most come first; those forecast to rise come "
             "last. " + SCORE_MEANING)
    horizon = st.radio("Forecast for", HORIZONS, format_func=lambda days: f"{days_text(days)} ahead",
                       horizontal=True, key="movers_horizon")
    count_column, cap_column = st.columns(2)
    count = count_column.selectbox("Coins shown", MOVER_COUNTS, index=1, key="movers_count")
    cap = cap_column.selectbox("Market cap", list(CAP_BANDS), format_func=CAP_BANDS.get, key="movers_cap")
    falling = st.checkbox("Only coins forecast to fall from High to Low", key="movers_falling")
    try:
        page = api.movers(horizon, count, cap=cap, crosses="down" if falling else "")
    except ApiProblem as problem:
        show_problem(problem)
        return
    coins = page.get("coins") or []
    if not page.get("date"):
        st.info("The market store holds no snapshot yet: there is nothing to forecast.")
        return
    if not coins:
        st.info(f"No coin of the snapshot of {page.get('date')} matches these choices.")
        return
    st.caption(f"From the market snapshot of {page.get('date')}; forecasts for {page.get('target_date')}. "
               f"{page.get('total')} coins in all. " + RANGE_MEANING)
    table = pd.DataFrame({
        "Coin": [coin.get("coin") for coin in coins],
        "Symbol": [coin.get("symbol") for coin in coins],
        "Score today": [number(coin.get("score")) for coin in coins],
        "Level today": [coin.get("level_today") or "unknown" for coin in coins],
        "Forecast": [number(coin.get("forecast_score")) for coin in coins],
        "Change": [number(coin.get("change")) for coin in coins],
        "80 % range": [range_text(coin.get("interval_80")) for coin in coins],
        "90 % range": [range_text(coin.get("interval_90")) for coin in coins],
        "Forecast level": [coin.get("level") or "unknown" for coin in coins],
        "Market cap (USD)": [number(coin.get("mkt_cap_usd")) for coin in coins],
    })
    score_format = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"Score today": score_format, "Forecast": score_format,
                                "Change": st.column_config.NumberColumn(format="%+.3f",
                                                                        help="Forecast minus today's score"),
                                "Market cap (USD)": st.column_config.NumberColumn(format="compact")})


def coin_chart(history, forecast):
    """Return the chart of the coin's recent scores and its forecasts with their 80 % and 90 % ranges."""
    past = pd.DataFrame({"date": pd.to_datetime([row.get("date") for row in history]),
                         "score": [number(row.get("score")) for row in history]}).dropna()
    ahead = pd.DataFrame([{"date": pd.to_datetime(outlook.get("target_date")),
                           "forecast": number(outlook.get("forecast_score")),
                           "low80": number((outlook.get("interval_80") or {}).get("low")),
                           "high80": number((outlook.get("interval_80") or {}).get("high")),
                           "low90": number((outlook.get("interval_90") or {}).get("low")),
                           "high90": number((outlook.get("interval_90") or {}).get("high")),
                           "ahead": days_text(outlook.get("horizon"))} for outlook in forecast.get("horizons") or []])
    scale = alt.Scale(domain=[0, 1])
    layers = []
    if not past.empty:
        layers.append(alt.Chart(past).mark_line(color="#4c78a8").encode(
            x=alt.X("date:T", title="Date"), y=alt.Y("score:Q", title="Liquidity score", scale=scale),
            tooltip=[alt.Tooltip("date:T", title="Date"), alt.Tooltip("score:Q", title="Score", format=".3f")]))
    if not ahead.empty:
        tooltip = [alt.Tooltip("ahead:N", title="Ahead"), alt.Tooltip("date:T", title="For"),
                   alt.Tooltip("forecast:Q", title="Forecast", format=".3f"),
                   alt.Tooltip("low80:Q", title="80 % from", format=".3f"),
                   alt.Tooltip("high80:Q", title="80 % to", format=".3f"),
                   alt.Tooltip("low90:Q", title="90 % from", format=".3f"),
                   alt.Tooltip("high90:Q", title="90 % to", format=".3f")]
        base = alt.Chart(ahead).encode(x=alt.X("date:T", title="Date"), tooltip=tooltip)
        layers.append(base.mark_rule(color="#f58518", strokeWidth=3, opacity=0.35).encode(
            y=alt.Y("low90:Q", scale=scale, title="Liquidity score"), y2="high90:Q"))
        layers.append(base.mark_rule(color="#f58518", strokeWidth=8, opacity=0.6).encode(
            y=alt.Y("low80:Q", scale=scale), y2="high80:Q"))
        layers.append(base.mark_point(color="#e45756", filled=True, size=80).encode(
            y=alt.Y("forecast:Q", scale=scale)))
    threshold = number(forecast.get("threshold"))
    if threshold is not None:
        layers.append(alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(
            color="gray", strokeDash=[4, 4]).encode(y="threshold:Q"))
    return alt.layer(*layers).properties(height=360)


def coin_view(api):
    st.header("One coin")
    try:
        largest = api.largest_coins().get("coins") or []
    except ApiProblem as problem:
        show_problem(problem)
        return
    names = {coin.get("coin_id"): f"{coin.get('coin')} ({coin.get('symbol')})" for coin in largest}
    if not names:
        st.info("The market store holds no snapshot yet: there is no coin to show.")
        return
    chosen = st.selectbox("Coin (the largest by market cap)", list(names), format_func=names.get, key="coin_choice")
    typed = st.text_input("Or type a coin's id (as in the app's coin pages, e.g. bitcoin)", key="coin_typed")
    coin_id = typed.strip() or chosen
    try:
        forecast = api.coin_forecast(coin_id)
        history = api.coin_history(coin_id, HISTORY_DAYS).get("history") or []
    except ApiProblem as problem:
        show_problem(problem)
        return
    score = number(forecast.get("score"))
    threshold = number(forecast.get("threshold"))
    level = "" if score is None or threshold is None else f" ({'High' if score >= threshold else 'Low'})"
    st.subheader(f"{forecast.get('coin')} ({forecast.get('symbol')})")
    st.write(f"Liquidity score on {forecast.get('date')}: **{score_text(score)}**{level}; the threshold between Low "
             f"and High is {score_text(threshold)}. " + SCORE_MEANING)
    outlooks = forecast.get("horizons") or []
    columns = st.columns(max(len(outlooks), 1))
    for column, outlook in zip(columns, outlooks):
        value = number(outlook.get("forecast_score"))
        delta = None if value is None or score is None else f"{value - score:+.3f}"
        column.metric(f"{days_text(outlook.get('horizon'))} ahead ({outlook.get('target_date')})",
                      score_text(value), delta)
    st.altair_chart(coin_chart(history, forecast), width="stretch")
    st.caption(f"Line: the score over the last {HISTORY_DAYS} days. Dots: the forecasts, with their 80 % range "
               "(thick bar) and 90 % range (thin bar). Dashed: the threshold between Low and High. " + RANGE_MEANING)
    st.table(pd.DataFrame({
        "Ahead": [days_text(outlook.get("horizon")) for outlook in outlooks],
        "For": [outlook.get("target_date") for outlook in outlooks],
        "Forecast": [score_text(number(outlook.get("forecast_score"))) for outlook in outlooks],
        "Level": [outlook.get("level") or "unknown" for outlook in outlooks],
        "80 % range": [range_text(outlook.get("interval_80")) for outlook in outlooks],
        "90 % range": [range_text(outlook.get("interval_90")) for outlook in outlooks],
    }).set_index("Ahead"))


def typed_value(text, percent):
    """Return what was typed as a number for the API (percent as a fraction); text the API will explain otherwise."""
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return value / 100 if percent else value


def form_view(api):
    st.header("Forecast from four numbers")
    st.write("Type a coin's market figures as of now: the model forecasts its liquidity score in the next market "
             "snapshot, 1 day ahead. " + SCORE_MEANING)
    with st.form("forecast_form"):
        typed = {key: st.text_input(label, value=example, help=hint, key=f"input_{key}")
                 for key, label, hint, example, _ in INPUTS}
        submitted = st.form_submit_button("Forecast")
    if not submitted:
        return
    payload = {key: typed_value(typed[key], percent) for key, _, _, _, percent in INPUTS}
    try:
        answer = api.predict(payload)
    except ApiProblem as problem:
        show_problem(problem)
        return
    prediction = answer.get("prediction") or {}
    score = number(prediction.get("score"))
    level = prediction.get("level") or "unknown"
    threshold = number(answer.get("threshold"))
    first, second = st.columns(2)
    first.metric("Forecast score, 1 day ahead", score_text(score))
    second.metric("Liquidity level", level)
    st.write(f"The level is High at a score of {score_text(threshold)} or more. 80 % range: "
             f"{range_text(prediction.get('interval_80'))}; 90 % range: {range_text(prediction.get('interval_90'))}. "
             + RANGE_MEANING)
    if prediction.get("borderline"):
        st.warning("The range crosses the threshold: the level could turn out either way.")
    for warning in prediction.get("warnings") or ():
        st.warning(str(warning))
    if prediction.get("out_of_range"):
        st.warning("Outside the values the model was trained on, so less reliable: "
                   + ", ".join(LABELS.get(key, key) for key in prediction["out_of_range"]) + ".")


def main():
    st.set_page_config(page_title=TITLE, layout="wide")
    st.title(TITLE)
    base_url = api_url()
    api = LiquidityApi(base_url)
    view = st.sidebar.radio("Show", VIEWS, key="view")
    st.sidebar.caption(f"Data from the liquidity predictor's API at {base_url}.")
    {"Biggest movers": movers_view, "One coin": coin_view, "Forecast from four numbers": form_view}[view](api)


main()
