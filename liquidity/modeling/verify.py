"""Retrain on the same data into a temporary folder and check the committed model card's figures."""

import argparse
import math
import sys
import tempfile

import pandas as pd

from liquidity.artifacts import ArtifactError, load_artifacts, read_card
from liquidity.config import default_artifact_paths
from liquidity.dataset import DatasetError
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


def main(argv=None):
    """Retrain on --data and compare with the committed card; exit 1 on any difference."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data", nargs="+", required=True, help="the snapshot files or folders it was trained on")
    parser.add_argument("--card", default=str(default_artifact_paths().card), help="committed model card")
    args = parser.parse_args(argv)
    try:
        committed = read_card(args.card)
        differences = check_probe(default_artifact_paths())
    except ArtifactError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory() as folder:
            retrained = train(args.data, folder, n_folds=committed["validation"]["grouped_cv"]["folds"],
                              seed=committed["seed"], threshold=committed["threshold"],
                              grid={f"forest__{k}": v for k, v in committed["grid"].items()}, verbose=0)
    except (DatasetError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    differences += compare_cards(committed, retrained)
    if differences:
        print("retrained model differs from the committed model card:", *differences, sep="\n  ", file=sys.stderr)
        return 1
    print("retrained metrics match the committed model card")
    return 0


if __name__ == "__main__":
    sys.exit(main())
