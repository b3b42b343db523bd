"""Home page form and POST /predict."""

from flask import Blueprint, render_template, request, url_for

from liquidity.examples import EXAMPLE_COINS
from liquidity.schema import INPUTS
from liquidity.validation import InputError
from liquidity.web import current_model
from liquidity.web.home.forms import PredictForm
from liquidity.web.observability import log_event

bp = Blueprint("home", __name__)

INPUT_LABELS = {spec.column: spec.title.lower() for spec in INPUTS}
FORM_FIELDS = {spec.column: spec.form_field for spec in INPUTS}


def examples():
    """Return the one-click example coins with their pre-filling links."""
    return [(coin, url_for("home.index", **coin.query())) for coin in EXAMPLE_COINS]


@bp.get("/")
def index():
    """Show the form, pre-filled from the query string (volume, mkt_cap, h1 in percent, price)."""
    current_model()  # 503 at once rather than a form whose every answer would be a 503
    form = PredictForm(formdata=request.args if request.args else None)
    return render_template("home/index.html", form=form, examples=examples())


@bp.post("/predict")
def predict():
    """Validate the form and show the forecast, or the form again with each wrong field marked (400)."""
    model = current_model()
    form = PredictForm()
    if not form.validate():
        return render_template("home/index.html", form=form, examples=examples()), 400
    volume, mkt_cap, h1, price = form.inputs()
    try:
        forecast = model.forecast(volume, mkt_cap, h1, price)
    except InputError as error:  # the form's rules are the model's, so this is a safety net
        for field, reason in error.errors.items():
            form[FORM_FIELDS[field]].errors.append(reason)
        return render_template("home/index.html", form=form, examples=examples()), 400
    log_event("prediction", source="form", inputs={"volume": volume, "mkt_cap": mkt_cap, "1h": h1, "price": price},
              score=round(forecast.score, 6), liquidity_level=forecast.level, model_version=model.version)
    ranges = model.card["inputs"]
    warnings = [(INPUT_LABELS[name], ranges[name]) for name in forecast.out_of_range]
    return render_template("home/result.html", form=form, examples=examples(), forecast=forecast, model=model,
                           inputs={"volume": volume, "mkt_cap": mkt_cap, "1h": h1, "price": price},
                           warnings=warnings)
