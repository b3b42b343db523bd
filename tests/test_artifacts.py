import json
import os
import pickle
import shutil

import pytest
import sklearn

from liquidity.artifacts import ArtifactError, ArtifactPaths, load_artifacts


@pytest.fixture
def artifact_copy(trained_dir, tmp_path):
    for item in trained_dir.iterdir():
        shutil.copy(item, tmp_path / item.name)
    return ArtifactPaths.in_folder(tmp_path)


class _Exploit:
    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_verified_artifacts_load(artifact_copy):
    artifacts = load_artifacts(artifact_copy)
    assert artifacts.card["model_version"] == artifacts.card["artifacts"]["model"]["sha256"][:12]


def test_a_tampered_pickle_is_refused_without_being_unpickled(artifact_copy, tmp_path):
    exploit = _Exploit()
    exploit.marker = str(tmp_path / "pwned")
    artifact_copy.model.write_bytes(pickle.dumps(exploit))
    with pytest.raises(ArtifactError, match="tuned_liquidity_model.pkl: SHA-256 .* does not match the model card"):
        load_artifacts(artifact_copy)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.scaler.unlink(), "liquidity_scaler.pkl: file not found"),
        (lambda p: p.card.unlink(), "model_card.json: model card not found"),
        (lambda p: p.card.write_text("{not json"), "model_card.json: model card unreadable"),
        (lambda p: p.model.write_bytes(p.model.read_bytes()[:100]), "tuned_liquidity_model.pkl: SHA-256"),
    ],
)
def test_missing_or_corrupt_artifacts_are_clear_errors(artifact_copy, damage, message):
    damage(artifact_copy)
    with pytest.raises(ArtifactError, match=message):
        load_artifacts(artifact_copy)


def test_a_different_scikit_learn_version_is_refused(artifact_copy):
    card = json.loads(artifact_copy.card.read_text())
    card["versions"]["scikit-learn"] = "0.0.1"
    artifact_copy.card.write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match=f"scikit-learn 0.0.1, this is {sklearn.__version__}"):
        load_artifacts(artifact_copy)


def test_a_valid_hash_for_a_non_model_is_refused(artifact_copy):
    from liquidity.artifacts import save_artifacts

    card = json.loads(artifact_copy.card.read_text())
    save_artifacts(artifact_copy, forest=["not", "a", "forest"], scaler={}, card=card)
    with pytest.raises(ArtifactError, match="has no predict\\(\\) method"):
        load_artifacts(artifact_copy)


class _CrashAfter:
    """Stand-in for os.replace that lets `calls` renames through, then crashes like a killed process."""

    def __init__(self, calls):
        self.calls = calls
        self.real = os.replace

    def __call__(self, source, target):
        if self.calls == 0:
            raise KeyboardInterrupt("simulated crash")
        self.calls -= 1
        self.real(source, target)


def _retrain_card(artifact_copy):
    card = json.loads(artifact_copy.card.read_text())
    card["note"] = "second training"
    return card


@pytest.mark.parametrize(
    ("renames_before_crash", "survivor"),
    [
        (0, "old"),  # killed while writing the journal: the old set stands
        (1, "new"),  # journal written, model replaced, then killed: rolled forward on load
        (2, "new"),  # model and scaler replaced, card not yet: rolled forward on load
    ],
)
def test_a_crash_mid_save_never_leaves_a_pickle_and_card_that_disagree(
        artifact_copy, monkeypatch, renames_before_crash, survivor):
    from liquidity import artifacts as module

    old = load_artifacts(artifact_copy)
    forest, scaler = old.forest, old.scaler
    forest.new_marker = True  # changes the pickle bytes, so the new set has new hashes
    monkeypatch.setattr(module.os, "replace", _CrashAfter(renames_before_crash))
    with pytest.raises(KeyboardInterrupt):
        module.save_artifacts(artifact_copy, forest, scaler, _retrain_card(artifact_copy))
    monkeypatch.undo()

    loaded = load_artifacts(artifact_copy)  # verifies every hash against the card it reads
    assert getattr(loaded.forest, "new_marker", False) == (survivor == "new")
    assert ("note" in loaded.card) == (survivor == "new")
    assert sorted(p.name for p in artifact_copy.card.parent.iterdir() if p.name.startswith(".")) == []
