"""Reading the deploy/ files, and checking their HUDDLE_* settings against the code."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import yaml

from huddle import config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def known_settings() -> set[str]:
    """Every HUDDLE_* variable load_settings reads."""
    return set(re.findall(r'"(HUDDLE_[A-Z0-9_]+)"', inspect.getsource(config)))


def check_settings(environment: dict[str, str]) -> config.Settings:
    """The settings as a server would load them; unknown names fail (a typo there would
    silently leave a default in force)."""
    unknown = {name for name in environment if name.startswith("HUDDLE_")} - known_settings()
    assert not unknown, f"not settings Huddle reads: {sorted(unknown)}"
    return config.load_settings(environment)
