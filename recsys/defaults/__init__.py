"""Default configuration files, shipped as package data so an installed wheel finds them.

``recsys.toml`` holds the model knobs (validated by ``recsys.recommend.config.RecsysConfig``),
``experiments.toml`` the demo experiment (validated by ``recsys.experiments.config``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEFAULT_CONFIG = Path(str(files(__name__) / "recsys.toml"))
DEFAULT_EXPERIMENTS = Path(str(files(__name__) / "experiments.toml"))
