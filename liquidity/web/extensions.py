"""The web app's extension instances, created unbound and bound to an app in create_app with init_app.

Their classes live in liquidity/web/services.py.
"""

from flask_wtf.csrf import CSRFProtect

from liquidity.web.services import ModelLoader, PredictionLogExtension, ReadModelExtension

csrf = CSRFProtect()
models = ModelLoader()
read_models = ReadModelExtension()
prediction_logs = PredictionLogExtension()
