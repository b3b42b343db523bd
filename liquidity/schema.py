"""The four model inputs, described once: names, units, bounds and labels for every layer that reads them.

Validation, the home form, the JSON API's keys, the OpenAPI document, the batch and training readers'
header aliases, the report and the model card all derive what they say about an input from INPUTS.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Input:
    """One raw model input."""

    column: str  # the dataset column after loading, and the model's name for it
    key: str  # the JSON API key
    aliases: tuple  # other header spellings; headers and JSON objects also take the column and the key
    form_field: str  # the home form's field name
    label: str  # short name in messages: "market cap must be greater than 0"
    title: str  # the form's label
    description: str  # what it measures, without the unit
    unit: str  # "USD" or "fraction"
    low: float  # values must exceed low (or equal it when low_inclusive)
    high: float  # and be at most high; beyond the bounds a value is a typo or a unit mistake, not a market
    example: float  # in the dataset's unit
    low_inclusive: bool = False
    percent_in_form: bool = False  # the form takes percent (2.2 = +2.2 %), the data and the API a fraction
    optional: bool = False  # may be left out (missing, NaN to the model): the daily history has no 1h at all
    form_hint: str = ""

    @property
    def unit_detail(self):
        """Return the unit with an example when it is easy to misread (fractions)."""
        return "fraction (0.022 = +2.2 %)" if self.unit == "fraction" else self.unit

    @property
    def form_unit(self):
        return "%" if self.percent_in_form else self.unit

    @property
    def form_example(self):
        """Return the example as the form shows it (percent for a fraction typed in percent)."""
        value = self.example * 100 if self.percent_in_form else self.example
        return f"{value:.15g}"


INPUTS = (
    Input("volume", "24h_volume", ("total_volume",), "volume", "24h volume", "24h trading volume",
          "traded volume over the last 24 hours", "USD", 0.0, 1e13, 35_000_000_000, low_inclusive=True,
          form_hint="Total traded over the last 24 hours, in US dollars. 0 is allowed."),
    Input("mkt_cap", "mkt_cap", ("market_cap",), "mkt_cap", "market cap", "Market cap", "market capitalisation",
          "USD", 0.0, 1e14, 770_000_000_000, form_hint="Price times circulating supply, in US dollars."),
    Input("1h", "1h", (), "h1", "1h change", "Price change, last hour", "price change over the last hour",
          "fraction", -1.0, 10.0, 0.022, percent_in_form=True, optional=True,
          form_hint="In percent: type 2.2 for +2.2 %, -0.5 for -0.5 %. Optional: leave it empty if you do not "
                    "have it."),
    Input("price", "price", (), "price", "price", "Price", "price", "USD", 0.0, 1e9, 40_859.46,
          form_hint="One coin in US dollars."),
)
BY_COLUMN = {spec.column: spec for spec in INPUTS}
COLUMNS = tuple(BY_COLUMN)


def units():
    """Return {column: unit as the model card states it}."""
    return {spec.column: spec.unit_detail for spec in INPUTS}


def descriptions():
    """Return {column: what the input measures}."""
    return {spec.column: spec.description for spec in INPUTS}


def api_keys():
    """Return {column: JSON API key}."""
    return {spec.column: spec.key for spec in INPUTS}


def header_aliases():
    """Return {other header spelling: column} for the four inputs (e.g. 24h_volume -> volume)."""
    return {alias: spec.column for spec in INPUTS for alias in (spec.key, *spec.aliases) if alias != spec.column}


def json_schema(spec):
    """Return the JSON Schema of one input as the API takes it, with validation's bounds."""
    low = "minimum" if spec.low_inclusive else "exclusiveMinimum"
    alias_note = f" (alias: {spec.column})" if spec.column != spec.key else ""
    optional = "; optional: left out or null, it is missing" if spec.optional else ""
    return {"type": ["number", "null"] if spec.optional else "number",
            "description": f"{spec.description}, {spec.unit_detail}{alias_note}{optional}",
            low: spec.low, "maximum": spec.high}
