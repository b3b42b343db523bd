"""Home page form and POST /predict."""

from flask import Blueprint, redirect, render_template, request, url_for

from liquidity.examples import EXAMPLE_COINS
from liquidity.hints import borderline
from liquidity.schema import INPUTS
from liquidity.validation import InputError
from liquidity.web import current_model, reference_ratios
from liquidity.web.basis import as_forecast, coin_basis, inputs_basis, market_or_none, model_uses_h1
from liquidity.web.extensions import models, prediction_logs
from liquidity.web.formatting import number
from liquidity.web.home.forms import PredictForm
from liquidity.web.market import coin_log_rows
from liquidity.web.model.figures import interval_90_row
from liquidity.web.observability import log_prediction
from liquidity.web.scoring import forecast_log_row

bp = Blueprint("home", __name__)

INPUT_LABELS = {spec.column: spec.title.lower() for spec in INPUTS}
FORM_FIELDS = {spec.column: spec.form_field for spec in INPUTS}


@bp.context_processor
def model_inputs():
    """Tell the form whether the model uses the 1h change at all (its card says)."""
    model = models.get()
    return {"uses_h1": model is not None and model_uses_h1(model)}


def examples():
    """Return the one-click example coins with their pre-filling links."""
    return [(coin, url_for("home.index", **coin.query())) for coin in EXAMPLE_COINS]


@bp.get("/")
def index():
    """Show the form, pre-filled from the query string (volume, mkt_cap, h1 in percent, price)."""
    current_model()  # 503 at once rather than a form whose every answer would be a 503
    form = PredictForm(formdata=request.args if request.args else None)
    return render_template("home/index.html", form=form, examples=examples())


def training_range(name, spec):
    """Return the range seen in training as a person reads it: the 1h change in percent, as the form takes it."""
    if name == "1h":
        return f"{spec['min'] * 100:+.1f} % to {spec['max'] * 100:+.1f} %"
    return f"{number(spec['min'])} to {number(spec['max'])} {spec['unit']}"


def result_query(form):
    """Return the query string of the result URL: the four fields as typed, in the form's units, and the stored coin
    and date the picker filled them from (left out when there are none)."""
    query = {name: (form[name].data or "").strip() for name in ("volume", "mkt_cap", "h1", "price")}
    query.update({name: form[name].data.strip() for name in ("store_coin", "store_date")
                  if (form[name].data or "").strip()})
    return query


@bp.get("/predict")
def result():
    """Show the forecast for the query string (volume, mkt_cap, h1 in percent, price): a URL to reload or share."""
    model = current_model()
    if not request.args:
        return redirect(url_for("home.index"))
    # A GET changes nothing, so it needs no CSRF token; the values are checked exactly as a POST's are.
    return forecast_page(model, PredictForm(formdata=request.args, meta={"csrf": False}))


@bp.post("/predict")
def predict():
    """Validate the form, then redirect to the result's own URL; or the form again with each wrong field (400)."""
    current_model()  # 503 at once rather than a check of a form no model can answer
    form = PredictForm()
    if not form.validate():
        return render_template("home/index.html", form=form, examples=examples()), 400
    return redirect(url_for("home.result", **result_query(form)), code=303)


def forecast_page(model, form):
    """Render the forecast for a validated form, or the form with its errors (400)."""
    if not form.validate():
        return render_template("home/index.html", form=form, examples=examples()), 400
    volume, mkt_cap, h1, price = form.inputs()
    inputs = {"volume": volume, "mkt_cap": mkt_cap, "1h": h1, "price": price}
    coin = (form.store_coin.data or "").strip()
    # The picker's coin, on the date it was filled from: the coin page's forecast when the values are still its own.
    basis = coin_basis(market_or_none(), model, inputs, coin_id=coin,
                       date=(form.store_date.data or "").strip() or None) if coin else inputs_basis()
    if basis.from_history:
        forecast = as_forecast(model, basis.forecast)
        day = basis.forecast.horizons[0]
        interval_90 = (day.low90, day.high90)
        prediction_logs.log_forecasts(coin_log_rows(basis.forecast), "form", model.version)
    else:
        try:
            forecast = model.forecast(volume, mkt_cap, h1, price, reference_ratios())
        except InputError as error:  # the form's rules are the model's, so this is a safety net
            for field, reason in error.errors.items():
                form[FORM_FIELDS[field]].errors.append(reason)
            return render_template("home/index.html", form=form, examples=examples()), 400
        interval_90 = interval_90_row(model, forecast.score)
        prediction_logs.log_forecasts([forecast_log_row(forecast, volume, mkt_cap, h1, price)], "form",
                                      model.version)
    log_prediction(source="form", inputs={name: None if value != value else value for name, value in inputs.items()},
                   score=round(forecast.score, 6), liquidity_level=forecast.level, model_version=model.version,
                   basis=basis.kind)
    ranges = model.card["inputs"]
    warnings = [(INPUT_LABELS[name], training_range(name, ranges[name])) for name in forecast.out_of_range]
    return render_template("home/result.html", form=form, examples=examples(), forecast=forecast, model=model,
                           inputs=inputs, warnings=warnings, interval_90=interval_90, basis=basis,
                           coin_url=url_for("coins.coin", coin_id=basis.forecast.coin_id) if basis.from_history
                           else None,
                           result_url=url_for("home.result", **result_query(form)),
                           borderline=bool(borderline(forecast.band_low, forecast.band_high, model.threshold)))
