"""One configuration story for the library's knobs.

Each stage declares its own section next to the code it configures, as a frozen pydantic
dataclass (``@pydantic_dataclass(frozen=True, config=SECTION)``): ``CandidateConfig`` in
``recommend/candidates.py``, ``FeatureConfig`` in ``ranking/features.py``,
``LightGBMParams`` in ``ranking/rankers.py``, ... They stay plain dataclasses to the code
that reads them (``dataclasses.replace`` and ``asdict`` work) while pydantic validates every
value. :func:`load_toml` and
:func:`validate_config` turn a TOML file into a validated config, with every problem named
the way an operator reads it (``unknown keys in [cf]: bogus``, ``[split] must be a table``).
The service's environment (``RECSYS_*``) is read by ``api.settings.Settings`` alone.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from recsys.core.errors import InputDataError

T = TypeVar("T")


# ``@dataclass(frozen=True, config=SECTION)`` (pydantic's dataclass): a frozen, validated
# configuration dataclass that refuses unknown keys
SECTION = ConfigDict(extra="forbid")


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables, or an ``InputDataError`` naming the file and the reason."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputDataError(str(path), f"cannot read config: {exc}") from exc


def validate_config(cls: type[T], data: dict[str, Any], source: str) -> T:
    """``cls`` (a config section of sections) validated from ``data``."""
    try:
        return TypeAdapter(cls).validate_python(data)
    except ValidationError as exc:
        raise InputDataError(source, describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as an operator reads them: unknown keys grouped per section, then
    each other problem with its ``[section] key``."""
    unknown: dict[str, list[str]] = {}
    problems: list[str] = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            unknown.setdefault(".".join(loc[:-1]), []).append(loc[-1])
        elif err["type"] in ("dataclass_type", "dict_type", "model_type"):
            problems.append(f"[{'.'.join(loc)}] must be a table")
        else:
            where = f"[{'.'.join(loc[:-1])}] {loc[-1]}" if len(loc) > 1 else ".".join(loc)
            problems.append(f"{where}: {err['msg']}")
    for section, keys in unknown.items():
        keys = sorted(keys)
        if section:
            problems.insert(0, f"unknown keys in [{section}]: {', '.join(keys)}")
        else:
            problems.insert(0, f"unknown sections: {', '.join(keys)}")
    return "; ".join(problems)
