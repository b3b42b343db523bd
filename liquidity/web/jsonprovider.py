"""The app's JSON: strict, so a non-finite number is an error in the server, never `Infinity` sent to a client."""

from flask.json.provider import DefaultJSONProvider


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with allow_nan=False: NaN and infinities raise ValueError (a 500 a test catches) instead
    of becoming tokens that JSON parsers in other languages refuse."""

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)
