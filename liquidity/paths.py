"""Where the project's folders are: the repository root and the defaults the commands read and write."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATASET_DIR = PROJECT_ROOT / "DATASET"
REPORT_DIR = PROJECT_ROOT / "EDA_REPORT"
TEMPLATES_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"
INSTANCE_DIR = PROJECT_ROOT / "instance"  # this machine's own files (the default store, kept batch results); not in git
