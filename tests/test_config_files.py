"""The settings files shipped in configs/ build their models (a misspelt field would stop a run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqrec.experiment import load_config_file

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FILES = sorted(CONFIGS.rglob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[str(path.relative_to(CONFIGS)) for path in FILES])
def test_every_shipped_settings_file_builds_its_models(path: Path) -> None:
    sections = load_config_file(path)  # checks every section against its model's config
    assert sections, f"{path} has no model section"


def test_the_ml100k_recipes_are_there_for_the_three_compared_networks() -> None:
    recipes = load_config_file(CONFIGS / "recipes" / "ml-100k.toml")
    assert {"sasrec", "gru4rec", "bert4rec"} <= set(recipes)
