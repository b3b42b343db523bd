"""The single-coin form: the four inputs, in the units a person types."""

import math
import re
from datetime import date as Date

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional, ValidationError

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
            if BY_COLUMN[self.field_name].optional:
                return  # missing: the model takes it as NaN
            example = field.placeholder.removeprefix("e.g. ")
            unit = "percent" if self.percent else field.unit
            raise ValidationError(f"Required: enter the {field.label.text.lower()} in {unit}, e.g. {example}.")
        if field.number is None:
            raise ValidationError(what_to_type(field, self.percent))
        reason = percent_change_error(field.number) if self.percent else field_error(self.field_name, field.number)
        if reason:
            raise ValidationError(reason[0].upper() + reason[1:] + ".")


def stored_date(form, field):
    """Accept an empty date or one like 2024-03-16 (the stored snapshot the picker filled the form from)."""
    text = (field.data or "").strip()
    if text:
        try:
            Date.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"Must be a date like 2024-03-16, not {text[:40]!r}.") from None


class PredictForm(FlaskForm):
    """One coin's current market data, and the stored coin and date "Fill from the store" took them from."""

    volume = NumberField("volume")
    mkt_cap = NumberField("mkt_cap")
    h1 = NumberField("1h")
    price = NumberField("price")
    store_coin = StringField("Stored coin", validators=[Optional(), Length(max=200)])
    store_date = StringField("Stored snapshot date", validators=[stored_date])

    def inputs(self):
        """Return (volume, mkt_cap, h1 as a fraction or NaN when left empty, price) for the model."""
        h1 = self.h1.number
        return self.volume.number, self.mkt_cap.number, math.nan if h1 is None else h1 / 100.0, self.price.number
