"""Retrain on the same data into a temporary folder and check the committed model card's figures."""

import math
import tempfile

import pandas as pd

from liquidity.artifacts import default_artifact_paths, load_artifacts, read_card
from liquidity.features import features_from_frame
from liquidity.modeling.train import train


def compare_cards(committed, retrained, tolerance=1e-9):
    """Return a list of differences between two cards' hyper-parameters and validation metrics."""
    differences = []
    if committed["hyperparameters"] != retrained["hyperparameters"]:
        differences.append(f"hyper-parameters {committed['hyperparameters']} != {retrained['hyperparameters']}")
    for block in ("grouped_cv", "time_ordered"):
        old, new = committed["validation"][block], retrained["validation"][block]
        if (old is None) != (new is None):
            differences.append(f"{block}: present in only one card")
            continue
        for model, metrics in (old or {}).get("models", {}).items():
            for name, value in metrics.items():
                other = new["models"].get(model, {}).get(name)
                if isinstance(value, list):
                    same = isinstance(other, list) and len(value) == len(other) and all(
                        math.isclose(a, b, abs_tol=tolerance) for a, b in zip(value, other))
                elif value is None or other is None:
                    same = value is other
                else:
                    same = math.isclose(value, other, abs_tol=tolerance)
                if not same:
                    differences.append(f"{block}.{model}.{name}: committed {value} != retrained {other}")
    return differences


def check_probe(paths):
    """Reload the artifacts at paths and return differences between their predictions and the card's probe."""
    artifacts = load_artifacts(paths)
    probe = artifacts.card["probe"]
    scores = artifacts.forest.predict(artifacts.scaler.transform(features_from_frame(pd.DataFrame(probe["inputs"]))))
    return [f"probe row {i}: reloaded model predicts {got} but the card says {want}"
            for i, (got, want) in enumerate(zip(scores, probe["scores"])) if not math.isclose(got, want, abs_tol=1e-12)]


def verify(data, card=None):
    """Retrain on data and return the differences from the model card (default: the committed one).

    Raises ArtifactError, DatasetError or OSError when the card, the artifacts or the data cannot be read.
    """
    committed = read_card(card or default_artifact_paths().card)
    differences = check_probe(default_artifact_paths())
    with tempfile.TemporaryDirectory() as folder:
        retrained = train(data, folder, n_folds=committed["validation"]["grouped_cv"]["folds"],
                          seed=committed["seed"], threshold=committed["threshold"],
                          grid={f"forest__{k}": v for k, v in committed["grid"].items()}, verbose=0)
    return differences + compare_cards(committed, retrained)
