"""The single-coin form: the four inputs, in the units a person types."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from liquidity.schema import BY_COLUMN
from liquidity.validation import field_error, percent_change_error


def parse_number(text):
    """Return text as a float, ignoring spaces, thousands separators and a leading $; None if not a number."""
    cleaned = (text or "").strip().replace(",", "").replace("_", "").replace(" ", "").removeprefix("$")
    try:
        return float(cleaned)
    except ValueError:
        return None


class NumberField(StringField):
    """A text box for a number: keeps what was typed (to show it again) and the parsed value."""

    def __init__(self, column, **kwargs):
        spec = BY_COLUMN[column]
        super().__init__(spec.title, validators=[Within(column, percent=spec.percent_in_form)],
                         description=spec.form_hint, **kwargs)
        self.unit = spec.form_unit
        self.placeholder = f"e.g. {spec.form_example}"

    @property
    def number(self):
        return parse_number(self.data)


class Within:
    """Validate a NumberField with the model's input rules (liquidity.validation), so form, API and batch agree."""

    def __init__(self, field_name, percent=False):
        self.field_name = field_name
        self.percent = percent

    def __call__(self, form, field):
        if not (field.data or "").strip():
            raise ValidationError("Enter a number.")
        if field.number is None:
            raise ValidationError("Enter a number, e.g. 1234.5 (digits only, no letters).")
        reason = percent_change_error(field.number) if self.percent else field_error(self.field_name, field.number)
        if reason:
            raise ValidationError(reason[0].upper() + reason[1:] + ".")


class PredictForm(FlaskForm):
    """One coin's current market data."""

    volume = NumberField("volume")
    mkt_cap = NumberField("mkt_cap")
    h1 = NumberField("1h")
    price = NumberField("price")

    def inputs(self):
        """Return (volume, mkt_cap, h1 as a fraction, price) for the model."""
        return self.volume.number, self.mkt_cap.number, self.h1.number / 100.0, self.price.number
