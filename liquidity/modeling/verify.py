"""Check the committed model: its artifacts reproduce the card's probe, and a retrained run its figures.

The full training run (grid search over the full history) takes minutes longer than CI allows, so
verify retrains the card's `verification` run: the chosen hyper-parameters, no grid, on the last
days of the trained range with fewer rows. Its figures were recorded by the same training run that
made the committed model, so any drift in data, code or library versions shows up as a difference.
"""

from pathlib import Path

from liquidity.artifacts import ArtifactPaths, committed_artifact_paths, load_artifacts, read_card
from liquidity.modeling import card as model_card
from liquidity.modeling.train import TrainingConfig, verification_figures


def artifact_paths_for(card_path, default=None):
    """Return the artifact paths of the card at card_path: default's (the committed model's unless given) when it
    is default's card, else the pkls it names, beside it."""
    card_path = Path(card_path)
    default = default or committed_artifact_paths()
    if card_path.resolve() == default.card.resolve():
        return default
    return ArtifactPaths(card_path.parent / default.model.name, card_path.parent / default.scaler.name, card_path)


def check_probe(paths):
    """Reload the artifacts at paths and return the differences between their predictions and the card's probe."""
    artifacts = load_artifacts(paths)
    problems = [f"card section {name}" for name in model_card.check_card(artifacts.card)]
    if problems:  # a probe in another layout cannot be replayed
        return problems

    def predict(features):
        return artifacts.forest.predict(artifacts.scaler.transform(features))

    return problems + model_card.probe_differences(artifacts.card, predict)


def check_retrained(committed, data):
    """Retrain the card's verification run on data and return the figures that differ from the card's."""
    recorded = committed.get("verification")
    if not isinstance(recorded, dict) or "config" not in recorded:
        return ["the card records no verification run; retrain with liquidity.modeling.train"]
    config = TrainingConfig(**recorded["config"])
    retrained = verification_figures(data, config, recorded["hyperparameters"], committed["seed"],
                                     committed["threshold"])
    return model_card.compare_figures(recorded, retrained, "verification")


def verify(data, card=None, default=None):
    """Check the artifacts beside card (default: default's card, the committed model's unless given) and retrain
    its verification run on data.

    Returns the differences (empty when everything matches). Raises ArtifactError, DatasetError or OSError
    when the card, the artifacts or the data cannot be read.
    """
    default = default or committed_artifact_paths()
    paths = artifact_paths_for(card or default.card, default)
    committed = read_card(paths.card)
    return check_probe(paths) + check_retrained(committed, data)
