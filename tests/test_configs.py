"""Every shipped config file names real models and real fields (a typo is an error, not a default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqrec.experiment import build_model, load_config_file
from seqrec.models import REGISTRY
from seqrec.models.base import ConfigError

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.toml")) + [ROOT / "src/seqrec/walkthrough/shop.toml"]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_file_builds_every_model(path: Path) -> None:
    for name, values in load_config_file(path).items():
        model = build_model(name, values, threads=1)
        for key, value in values.items():
            assert getattr(model.config, key) == (tuple(value) if isinstance(value, list) else value)


def test_misspelt_field_in_a_config_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[als]\nfactor = 3\n")
    with pytest.raises(ConfigError, match="did you mean 'factors'"):
        build_model("als", load_config_file(path)["als"], threads=1)


def test_unknown_model_section_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[sasrek]\ndim = 3\n")
    with pytest.raises(ValueError, match="sasrek"):
        load_config_file(path)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_point_of_a_search_space_builds_the_model(name: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(8):
        overrides = REGISTRY[name].search_space(study.ask())
        model = build_model(name, overrides, threads=1)
        for key, value in overrides.items():
            assert getattr(model.config, key) == (tuple(value) if isinstance(value, list) else value)
