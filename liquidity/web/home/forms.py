"""The single-coin form: the four inputs, in the units a person types."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

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

    def __init__(self, label, unit, placeholder, **kwargs):
        super().__init__(label, **kwargs)
        self.unit = unit
        self.placeholder = placeholder

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

    volume = NumberField("24h trading volume", "USD", "e.g. 35000000000", validators=[Within("volume")],
                         description="Total traded over the last 24 hours, in US dollars. 0 is allowed.")
    mkt_cap = NumberField("Market cap", "USD", "e.g. 770000000000", validators=[Within("mkt_cap")],
                          description="Price times circulating supply, in US dollars.")
    h1 = NumberField("Price change, last hour", "%", "e.g. 2.2", validators=[Within("1h", percent=True)],
                     description="In percent: type 2.2 for +2.2 %, -0.5 for -0.5 %.")
    price = NumberField("Price", "USD", "e.g. 40859.46", validators=[Within("price")],
                        description="One coin in US dollars.")

    def inputs(self):
        """Return (volume, mkt_cap, h1 as a fraction, price) for the model."""
        return self.volume.number, self.mkt_cap.number, self.h1.number / 100.0, self.price.number
