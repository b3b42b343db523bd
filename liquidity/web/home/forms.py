"""The single-coin form: the four inputs, in the units a person types."""

import re

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


# "770 billion", "$35.4B", "12k": an amount with a word or letter for its scale.
ABBREVIATED = re.compile(r"\$?\s*[\d.,\s]+\s*(k|m|mn|mm|b|bn|t|tn|thousand|million|billion|trillion)\.?",
                         re.IGNORECASE)


def what_to_type(field, percent):
    """Return the message for a text that is not a number, saying what to type in this field instead."""
    text = (field.data or "").strip()
    example = field.placeholder.removeprefix("e.g. ")
    if percent and "%" in text:
        return f"Leave out the % sign: type the change as a plain number, e.g. {example} for +{example} %."
    if not percent and ABBREVIATED.fullmatch(text):
        return (f"Type the whole amount in US dollars with digits only, e.g. {example} "
                "(no words or abbreviations such as B for billion).")
    unit = "percent" if percent else "US dollars"
    return f"Type a number in {unit}, digits only, e.g. {example}."


class Within:
    """Validate a NumberField with the model's input rules (liquidity.validation), so form, API and batch agree."""

    def __init__(self, field_name, percent=False):
        self.field_name = field_name
        self.percent = percent

    def __call__(self, form, field):
        if not (field.data or "").strip():
            example = field.placeholder.removeprefix("e.g. ")
            unit = "percent" if self.percent else field.unit
            raise ValidationError(f"Required: enter the {field.label.text.lower()} in {unit}, e.g. {example}.")
        if field.number is None:
            raise ValidationError(what_to_type(field, self.percent))
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
