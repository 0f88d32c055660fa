"""Where things are, for tests at any depth of the test tree."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_REGISTRY = PROJECT_ROOT / "deploy" / "goals.yaml"
