"""The shape of ``experiments.toml``, as pydantic models: types, required keys and unknown
keys are checked here, with every problem named where it is in the file
(``experiments[0] (ranker-2026-11).variants[1]: weight must be float, got 'x'``). What the
values mean (weights > 0, traffic in (0, 1], known surfaces, ...) is checked by the
``Variant`` / ``Experiment`` / ``ExperimentConfig`` they become (``recsys.experiments.config``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr
from pydantic import ValidationError as PydanticValidationError

DEFAULT_LAYER = "default"

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
