"""The batch upload form."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired


class BatchForm(FlaskForm):
    """One CSV file of snapshot rows."""

    file = FileField("Snapshot CSV", validators=[FileRequired("Choose a CSV file to upload."),
                                                 FileAllowed(["csv"], "The file must be a .csv file.")],
                     description="Columns price, volume (or 24h_volume) and mkt_cap, in USD, and 1h (a "
                                 "fraction: 0.022 = +2.2 %) if you have it; other columns such as coin, symbol, "
                                 "date are kept. A row naming a stored coin (coin_id, symbol or coin) with its "
                                 "stored values is forecast from the coin's history.")
