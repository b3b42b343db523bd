"""Write and verify the model artifacts: two pickles and the model card that vouches for them."""

import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import sklearn

from liquidity.files import write_atomically
from liquidity.paths import PROJECT_ROOT

MODEL_FILE = "tuned_liquidity_model.pkl"
SCALER_FILE = "liquidity_scaler.pkl"
CARD_FILE = "model_card.json"
# The time-ordered test predictions, gzipped: 120k rows would be 19 MB of plain CSV in the repository.
PREDICTIONS_FILE = "cv_predictions.csv.gz"


class ArtifactError(RuntimeError):
    """An artifact that is missing, corrupt, or not the one the model card describes."""


@dataclass(frozen=True)
class ArtifactPaths:
    """Where the model, the scaler and the model card live."""

    model: Path
    scaler: Path
    card: Path

    @classmethod
    def in_folder(cls, folder):
        folder = Path(folder)
        return cls(folder / MODEL_FILE, folder / SCALER_FILE, folder / CARD_FILE)


def committed_artifact_paths():
    """Return the paths of the model committed at the project root (liquidity.settings.artifact_paths applies the
    LIQUIDITY_MODEL_PATH / _SCALER_PATH / _CARD_PATH overrides)."""
    return ArtifactPaths.in_folder(PROJECT_ROOT)


@dataclass(frozen=True)
class Artifacts:
    """A verified forest, scaler and model card."""

    forest: object
    scaler: object
    card: dict


def sha256_bytes(data):
    """Return the hex SHA-256 of data."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    """Return the hex SHA-256 of the file at path."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _journal_path(paths):
    return paths.card.with_name(f".{paths.card.name}.commit")


def _staged_path(path):
    return path.with_name(f".{path.name}.staged")


def _stage(path, data):
    """Write data beside path under a staging name, flushed to disk; return the staging path."""
    staged = _staged_path(path)
    staged.parent.mkdir(parents=True, exist_ok=True)
    with open(staged, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.chmod(staged, 0o644)
    return staged


def recover_interrupted_save(paths):
    """Finish a save interrupted after its commit point, or discard one interrupted before it.

    Returns True when an interrupted save was rolled forward.
    """
    journal = _journal_path(paths)
    if journal.exists():
        try:
            moves = json.loads(journal.read_text(encoding="utf-8"))
            for staged, target in moves:
                if Path(staged).exists():
                    os.replace(staged, target)
            journal.unlink()
        except (OSError, ValueError) as error:
            raise ArtifactError(f"{journal}: cannot finish an interrupted save ({error}); train again") from None
        return True
    for path in (paths.model, paths.scaler, paths.card):
        try:
            _staged_path(path).unlink(missing_ok=True)
        except OSError:
            pass  # leftovers of a save that never committed are harmless; a read-only deploy may keep them
    return False


def save_artifacts(paths, forest, scaler, card):
    """Pickle forest and scaler, record their hashes in card, and replace all three as one set.

    The three files are staged and flushed first; writing the journal is the commit point. A crash
    before it leaves the old set untouched, a crash after it is rolled forward by the next load or
    save, so a pkl and a card that disagree are never left behind.
    """
    recover_interrupted_save(paths)
    blobs = {
        "model": (paths.model, pickle.dumps(forest, protocol=pickle.HIGHEST_PROTOCOL)),
        "scaler": (paths.scaler, pickle.dumps(scaler, protocol=pickle.HIGHEST_PROTOCOL)),
    }
    card = dict(card)
    card["artifacts"] = {
        role: {"file": path.name, "sha256": sha256_bytes(blob), "bytes": len(blob)}
        for role, (path, blob) in blobs.items()
    }
    card["model_version"] = card["artifacts"]["model"]["sha256"][:12]
    card_bytes = (json.dumps(card, indent=2) + "\n").encode()
    moves = [(_stage(path, blob), path) for path, blob in blobs.values()]
    moves.append((_stage(paths.card, card_bytes), paths.card))
    journal = _journal_path(paths)
    write_atomically(journal, json.dumps([[str(s.resolve()), str(t.resolve())] for s, t in moves]).encode())
    recover_interrupted_save(paths)
    return card


def read_card(path):
    """Read the model card JSON, or raise ArtifactError naming the file."""
    path = Path(path)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: model card not found (train a model first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: model card unreadable ({error})") from None
    if not isinstance(card, dict) or not isinstance(card.get("artifacts"), dict):
        raise ArtifactError(f"{path}: model card has no 'artifacts' section")
    return card


def _verified_unpickle(path, expected):
    path = Path(path)
    if not isinstance(expected, dict) or "sha256" not in expected:
        raise ArtifactError(f"{path}: the model card has no SHA-256 for this file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except OSError as error:
        raise ArtifactError(f"{path}: cannot read file ({error})") from None
    actual = sha256_bytes(data)
    if actual != expected["sha256"]:
        raise ArtifactError(
            f"{path}: SHA-256 {actual[:12]}... does not match the model card ({expected['sha256'][:12]}...);"
            " refusing to unpickle it")
    try:
        # Safe only because the bytes are the ones the model card vouches for.
        return pickle.loads(data)  # noqa: S301
    except Exception as error:  # a corrupt pickle can raise almost anything
        raise ArtifactError(f"{path}: cannot unpickle ({error.__class__.__name__})") from None


def load_artifacts(paths):
    """Load forest and scaler after checking their SHA-256 and the scikit-learn version against the card."""
    recover_interrupted_save(paths)
    card = read_card(paths.card)
    trained_with = card.get("versions", {}).get("scikit-learn")
    if trained_with != sklearn.__version__:
        raise ArtifactError(
            f"{paths.card}: artifacts were made with scikit-learn {trained_with}, this is {sklearn.__version__};"
            " install the version pinned in requirements.txt or retrain")
    forest = _verified_unpickle(paths.model, card["artifacts"].get("model"))
    scaler = _verified_unpickle(paths.scaler, card["artifacts"].get("scaler"))
    for path, obj, method in ((paths.model, forest, "predict"), (paths.scaler, scaler, "transform")):
        if not callable(getattr(obj, method, None)):
            raise ArtifactError(f"{path}: unpickled object has no {method}() method")
    return Artifacts(forest=forest, scaler=scaler, card=card)
