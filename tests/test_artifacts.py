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
