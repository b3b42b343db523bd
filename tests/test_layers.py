"""The layers import downwards only: data, features and modeling never load Flask or the web app."""

import json
import subprocess
import sys

import pytest

from liquidity.paths import PROJECT_ROOT

LOWER_LAYERS = ["liquidity", "liquidity.dataset", "liquidity.features", "liquidity.schema", "liquidity.tabular",
                "liquidity.modeling.*"]
# Imports every module named in argv (a trailing .* means every module of that package) in this fresh
# interpreter and prints the Flask, web-app and scikit-learn modules that got loaded.
PROBE = """
import importlib, json, pkgutil, sys
for name in sys.argv[1:]:
    if name.endswith(".*"):
        package = importlib.import_module(name[:-2])
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
    else:
        importlib.import_module(name)
loaded = sorted(sys.modules)
print(json.dumps({"flask": [m for m in loaded if m == "flask" or m.startswith("flask.")],
                  "web": [m for m in loaded if m.startswith("liquidity.web")],
                  "sklearn": [m for m in loaded if m == "sklearn"],
                  "modeling": [m for m in loaded if m.startswith("liquidity.modeling.")]}))
"""


def loaded_by(*modules):
    result = subprocess.run([sys.executable, "-c", PROBE, *modules], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.slow
def test_data_features_and_modeling_load_neither_flask_nor_the_web_app():
    loaded = loaded_by(*LOWER_LAYERS)
    assert loaded["flask"] == [] and loaded["web"] == []
    assert "liquidity.modeling.train" in loaded["modeling"]  # the probe did import the modeling modules


@pytest.mark.slow
def test_the_package_root_and_the_data_layer_load_no_scikit_learn():
    loaded = loaded_by("liquidity", "liquidity.dataset", "liquidity.features", "liquidity.tabular")
    assert loaded == {"flask": [], "web": [], "sklearn": [], "modeling": []}


@pytest.mark.slow
def test_the_web_app_does_load_flask():  # the probe can see Flask when it is there
    assert "flask" in loaded_by("liquidity.web")["flask"]


@pytest.mark.slow
def test_a_command_imports_only_its_own_module():
    probe = ("import sys; from liquidity.commands import cli; cli.get_command(None, 'ingest').params; "
             "print(sorted(m for m in ('sklearn', 'flask', 'liquidity.report') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_web_app_imports_no_command_module():
    probe = ("import json, sys; from liquidity.web import create_app; app = create_app({'TESTING': True}); "
             "print(json.dumps([sorted(app.cli.list_commands(None)), "
             "sorted(m for m in sys.modules if m.startswith('liquidity.commands.'))]))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    names, modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"import", "ingest", "daily", "forecast", "report", "train", "predict"} <= set(names)
    assert modules == []  # every command is listed, none of their modules imported


def environ_readers(path):
    """Return the lines of path that read os.environ or call os.getenv."""
    import ast

    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            lines.extend(node.lineno for alias in node.names if alias.name in ("environ", "getenv", "environb"))
    return lines


def test_only_the_two_settings_modules_read_the_environment():
    package = PROJECT_ROOT / "liquidity"
    allowed = {package / "settings.py", package / "web" / "settings.py"}
    readers = {str(path.relative_to(PROJECT_ROOT)): lines for path in package.rglob("*.py")
               if path not in allowed and (lines := environ_readers(path))}
    assert readers == {}
    assert environ_readers(package / "settings.py")  # the walk does see a read
