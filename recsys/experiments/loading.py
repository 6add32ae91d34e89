"""``experiments.toml`` -> ``ExperimentConfig``.

The file's shape is declared as pydantic models: types, required keys and unknown keys are
checked by them, with every problem named where it is in the file
(``experiments[0] (ranker-2026-11).variants[1]: weight must be float, got 'x'``). What the
values mean (weights > 0, traffic in (0, 1], known surfaces, ...) is checked by the
``Variant`` / ``Experiment`` / ``ExperimentConfig`` they become (``recsys.experiments.config``),
and the ranker and retrieval names against their one declaration.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr
from pydantic import ValidationError as PydanticValidationError

from recsys.core.config import load_toml
from recsys.core.errors import InputDataError
from recsys.core.types import Capabilities
from recsys.defaults import DEFAULT_EXPERIMENTS
from recsys.experiments.config import DEFAULT_LAYER, Experiment, ExperimentConfig, Variant
from recsys.ranking.rankers import RECOMMENDATION_RANKERS, SEARCH_RANKERS
from recsys.search.options import RETRIEVAL_MODES

_TABLE = ConfigDict(extra="forbid", frozen=True)
Number = StrictFloat  # an int is accepted (as a float), a bool or a string is not


class VariantTable(BaseModel):
    model_config = _TABLE
    name: StrictStr
    weight: Number
    ranker: StrictStr | None = None
    retrieval: StrictStr | None = None
    interleave: list[StrictStr] | None = None
    description: StrictStr = ""


class ExperimentTable(BaseModel):
    model_config = _TABLE
    key: StrictStr
    salt: StrictStr
    traffic: Number
    surfaces: list[StrictStr]
    variants: list[VariantTable]
    layer: StrictStr = DEFAULT_LAYER
    status: StrictStr = "running"
    description: StrictStr = ""


class LayerTable(BaseModel):
    model_config = _TABLE
    salt: StrictStr | None = None


class ExperimentsFile(BaseModel):
    model_config = _TABLE
    experiments: list[ExperimentTable] = Field(default_factory=list)
    layers: dict[str, LayerTable] = Field(default_factory=dict)


_KINDS = {"string": "str", "float": "float", "int": "float", "list": "a list of strings"}


def parse_file(data: dict[str, Any]) -> ExperimentsFile:
    """Validated tables, or ValueError with every problem named where it is in the file."""
    try:
        return ExperimentsFile.model_validate(data)
    except PydanticValidationError as exc:
        raise ValueError(_describe(exc, data)) from None


def where(loc: tuple[Any, ...], data: Any) -> str:
    """A location in the file as an operator reads it: ``[layers.L]``,
    ``experiments[0] (key)``, ``experiments[0] (key).variants[1]``, or ``top level``."""
    if not loc:
        return "top level"
    if loc[0] == "layers":
        return f"[layers.{loc[1]}]" if len(loc) > 1 else "[layers]"
    out, node = str(loc[0]), data.get(loc[0]) if isinstance(data, dict) else None
    for part in loc[1:]:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("key"), str):
                out += f" ({node['key']})"
        else:
            out += f".{part}"
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _describe(exc: PydanticValidationError, data: dict[str, Any]) -> str:
    unknown: dict[tuple[Any, ...], list[str]] = {}
    problems: list[str] = []
    for err in exc.errors():
        loc, kind = tuple(err["loc"]), err["type"]
        if kind == "extra_forbidden":
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
        elif kind == "missing":
            problems.append(f"{where(loc[:-1], data)}: missing {loc[-1]}")
        elif kind in ("model_type", "dict_type"):
            problems.append(f"{where(loc, data)} must be a table")
        elif kind == "list_type" and loc == ("experiments",):
            problems.append("experiments must be an array of tables [[experiments]]")
        elif kind == "list_type" and loc[-1] == "variants":
            problems.append(f"{where(loc[:-1], data)}: variants must be an array of tables")
        else:
            field = next((part for part in reversed(loc) if isinstance(part, str)), "value")
            owner = loc[: len(loc) - 1 - list(reversed(loc)).index(field)] if field in loc else ()
            expected = next((v for k, v in _KINDS.items() if kind.startswith(k)), err["msg"])
            if field in ("surfaces", "interleave"):
                expected = "a list of strings"
            problems.append(
                f"{where(owner, data)}: {field} must be {expected}, got {err.get('input')!r}"
            )
    for loc, keys in unknown.items():
        problems.insert(0, f"unknown keys in {where(loc, data)}: {', '.join(sorted(keys))}")
    return "; ".join(dict.fromkeys(problems))


# every name a variant may use: the rankers' and retrieval modes' own declarations
# Every ranker and retrieval mode the code declares (what an artifact can at most serve);
# the service checks experiments against it at startup, before its engine has loaded.
DECLARED = Capabilities(SEARCH_RANKERS, RECOMMENDATION_RANKERS, tuple(RETRIEVAL_MODES))
KNOWN_RANKERS: frozenset[str] = frozenset(DECLARED.search_rankers + DECLARED.recommendation_rankers)
KNOWN_RETRIEVALS: frozenset[str] = frozenset(DECLARED.retrieval_modes)


def parse_experiments(
    data: dict[str, Any],
    source: str = "experiments",
    rankers: Collection[str] | None = KNOWN_RANKERS,
    retrievals: Collection[str] | None = KNOWN_RETRIEVALS,
) -> ExperimentConfig:
    """Validate parsed TOML; pass ``rankers=None`` / ``retrievals=None`` to skip the name
    checks (and call ``check_names`` later)."""
    try:
        tables = parse_file(data)
    except ValueError as exc:
        raise InputDataError(source, str(exc)) from None
    experiments = [
        _experiment(source, where(("experiments", i), data), table)
        for i, table in enumerate(tables.experiments)
    ]
    salts = {name: layer.salt or name for name, layer in tables.layers.items()}
    try:
        config = ExperimentConfig(tuple(experiments), salts)
    except ValueError as exc:
        raise InputDataError(source, str(exc)) from exc
    try:
        config.check_names(rankers, retrievals)
    except InputDataError as exc:
        raise InputDataError(source, exc.problem) from exc
    return config


def _experiment(source: str, at: str, table: ExperimentTable) -> Experiment:
    """The experiment of a validated table; its meaning is checked by the dataclasses."""
    variants = []
    for j, v in enumerate(table.variants):
        try:
            variants.append(
                Variant(
                    name=v.name,
                    weight=v.weight,
                    ranker=v.ranker,
                    retrieval=v.retrieval,
                    interleave=None if v.interleave is None else cast(Any, tuple(v.interleave)),
                    description=v.description,
                )
            )
        except ValueError as exc:
            raise InputDataError(source, f"{at}.variants[{j}]: {exc}") from exc
    try:
        return Experiment(
            key=table.key,
            salt=table.salt,
            traffic=table.traffic,
            surfaces=tuple(table.surfaces),
            variants=tuple(variants),
            layer=table.layer,
            status=table.status,
            description=table.description,
        )
    except ValueError as exc:
        raise InputDataError(source, f"{at}: {exc}") from exc


def load_experiments(
    path: Path | str | None = None,
    rankers: Collection[str] | None = KNOWN_RANKERS,
    retrievals: Collection[str] | None = KNOWN_RETRIEVALS,
) -> ExperimentConfig:
    """Read a TOML file; with no path, the shipped default experiments."""
    if path is None:
        if not DEFAULT_EXPERIMENTS.is_file():
            return ExperimentConfig()
        path = DEFAULT_EXPERIMENTS
    data = load_toml(Path(path))
    return parse_experiments(data, str(path), rankers, retrievals)
