"""Tests for the model configuration file: defaults, overrides and rejected input."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

import recsys.recommend.config as config_module
from recsys.core.errors import InputDataError
from recsys.ranking.rankers import LightGBMParams
from recsys.recommend.candidates import CandidateConfig
from recsys.recommend.config import DEFAULT_CONFIG, CFConfig, RecsysConfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recsys.toml"
    path.write_text(text)
    return path


def test_repository_config_overrides_only_what_it_names() -> None:
    assert DEFAULT_CONFIG.is_file()
    raw = tomllib.loads(DEFAULT_CONFIG.read_text())
    loaded = RecsysConfig.load()
    defaults = RecsysConfig()
    assert set(raw) <= {f.name for f in dataclasses.fields(RecsysConfig)}
    for section in dataclasses.fields(RecsysConfig):
        got, default = getattr(loaded, section.name), getattr(defaults, section.name)
        assert type(got) is type(default)
        overrides = raw.get(section.name, {})
        for key in dataclasses.fields(got):
            if key.name in overrides:
                value = overrides[key.name]
                expected = tuple(value) if isinstance(value, list) else value
            else:
                expected = getattr(default, key.name)
            assert getattr(got, key.name) == expected, f"[{section.name}] {key.name}"
    assert RecsysConfig.load(DEFAULT_CONFIG) == loaded


def test_without_a_config_file_the_defaults_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG", Path("/nonexistent/recsys.toml"))
    assert RecsysConfig.load() == RecsysConfig()


def test_partial_file_overrides_a_subset(tmp_path: Path) -> None:
    path = write(tmp_path, "[candidates]\nann = 7\n\n[cf]\nease_l2 = 12.5\n")
    config = RecsysConfig.load(path)
    assert config.candidates == dataclasses.replace(CandidateConfig(), ann=7)
    assert config.cf == dataclasses.replace(CFConfig(), ease_l2=12.5)
    assert config.ranker == LightGBMParams()
    assert RecsysConfig.load(write(tmp_path, "")) == RecsysConfig()


def test_list_values_become_tuples(tmp_path: Path) -> None:
    config = RecsysConfig.load(write(tmp_path, "[ranker]\neval_at = [5, 10, 20]\n"))
    assert config.ranker.eval_at == (5, 10, 20)
    assert isinstance(config.ranker.eval_at, tuple)
    assert config.ranker.lightgbm_params()["eval_at"] == [5, 10, 20]


def test_nested_table_for_extra_lightgbm_params(tmp_path: Path) -> None:
    config = RecsysConfig.load(write(tmp_path, "[ranker.extra]\nmax_bin = 63\n"))
    assert config.ranker.extra == {"max_bin": 63}
    assert config.ranker.lightgbm_params()["max_bin"] == 63


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[cf]\nease_l2 = 1.0\nbogus_knob = 3\nalso_bad = 1\n")
    with pytest.raises(
        InputDataError, match=r"unknown keys in \[cf\]: also_bad, bogus_knob"
    ) as exc:
        RecsysConfig.load(path)
    assert exc.value.path == str(path)


def test_unknown_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[candidates]\nann = 5\n\n[rankerz]\nnum_leaves = 3\n")
    with pytest.raises(InputDataError, match="unknown sections: rankerz"):
        RecsysConfig.load(path)


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"\[split\] must be a table"):
        RecsysConfig.load(write(tmp_path, "split = 3\n"))


def test_bad_toml_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[candidates\nann = = 5\n")
    with pytest.raises(InputDataError, match="cannot read config") as exc:
        RecsysConfig.load(path)
    assert exc.value.path == str(path)


def test_missing_explicit_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="cannot read config"):
        RecsysConfig.load(tmp_path / "absent.toml")


def test_dict_round_trip() -> None:
    config = RecsysConfig.from_dict({"ranker": {"eval_at": [3], "seed": 4}, "split": {}})
    assert config.ranker.eval_at == (3,)
    assert RecsysConfig.from_dict(config.to_dict()) == config
    assert RecsysConfig.from_dict(RecsysConfig().to_dict()) == RecsysConfig()
