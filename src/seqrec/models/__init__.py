"""Models and the explicit registry that maps names to classes.

Every model is one line in ``REGISTRY``: its name, the module that defines it and the class name.
A model's module is imported only when the model is asked for, so listing names, or running
popularity, imports no torch. Nothing is derived from the name: what is listed is what exists
(``tests/models/test_registry.py`` resolves every line and checks each class's ``name``).

A user's own model joins with ``REGISTRY.register(MyModel)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seqrec.models.base import Recommender


class Registry(Mapping[str, "type[Recommender]"]):
    """Name -> model class, resolving each class on first use."""

    def __init__(self, entries: dict[str, tuple[str, str]]) -> None:
        self._where = dict(entries)  # name -> (module, class name)
        self._classes: dict[str, type[Recommender]] = {}

    def __getitem__(self, name: str) -> type[Recommender]:
        if name not in self._classes:
            if name not in self._where:
                raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(self))}")
            module, class_name = self._where[name]
            self._classes[name] = getattr(importlib.import_module(module), class_name)
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._where
        yield from (name for name in self._classes if name not in self._where)

    def __len__(self) -> int:
        return len(set(self._where) | set(self._classes))

    def __contains__(self, name: object) -> bool:
        return name in self._where or name in self._classes

    def register(self, model_class: type[Recommender]) -> type[Recommender]:
        """Add a model class under its ``name`` (usable as a class decorator)."""
        if model_class.name in self:
            raise ValueError(f"a model named {model_class.name!r} is already registered")
        self._classes[model_class.name] = model_class
        return model_class

    def builtin(self, name: str) -> bool:
        """Whether ``name`` is one of the built-in lines (a fresh process knows it by name) rather
        than a class added with :meth:`register` in this process."""
        return name in self._where

    def unregister(self, name: str) -> None:
        """Remove a model added with :meth:`register` (the built-in ones stay)."""
        if name in self._where:
            raise ValueError(f"{name!r} is a built-in model")
        self._classes.pop(name, None)


REGISTRY = Registry(
    {
        "oracle": ("seqrec.models.oracle", "OracleRecommender"),
        "oracle-observable": ("seqrec.models.oracle", "ObservableOracle"),
        "popularity": ("seqrec.models.popularity", "Popularity"),
        "als": ("seqrec.models.als", "ImplicitALS"),
        "markov": ("seqrec.models.markov", "MarkovChain"),
        "markov-k": ("seqrec.models.markov", "MarkovChainK"),
        "seq-rules": ("seqrec.models.sequential_rules", "SequentialRules"),
        "item-knn": ("seqrec.models.item_knn", "ItemKNN"),
        "bpr": ("seqrec.models.bpr", "BPRMF"),
        "fpmc": ("seqrec.models.fpmc", "FPMC"),
        "fossil": ("seqrec.models.fossil", "Fossil"),
        "transrec": ("seqrec.models.transrec", "TransRec"),
        "gru4rec": ("seqrec.models.neural.gru4rec", "GRU4Rec"),
        "sasrec": ("seqrec.models.neural.sasrec", "SASRec"),
        "bert4rec": ("seqrec.models.neural.bert4rec", "BERT4Rec"),
        "narm": ("seqrec.models.neural.narm", "NARM"),
        "caser": ("seqrec.models.neural.caser", "Caser"),
        "nextitnet": ("seqrec.models.neural.nextitnet", "NextItNet"),
        "srgnn": ("seqrec.models.neural.srgnn", "SRGNN"),
        "cl4srec": ("seqrec.models.neural.cl4srec", "CL4SRec"),
        "duorec": ("seqrec.models.neural.duorec", "DuoRec"),
        "sknn": ("seqrec.models.session_knn", "SKNN"),
        "v-sknn": ("seqrec.models.session_knn", "VSKNN"),
        "item2vec": ("seqrec.models.item2vec", "Item2Vec"),
        "unisrec": ("seqrec.models.neural.unisrec", "UniSRec"),
        "tiger": ("seqrec.models.llm.tiger", "Tiger"),
        "llm-rerank": ("seqrec.models.llm.ranker", "LLMRerank"),
        "hstu": ("seqrec.models.neural.hstu", "HSTU"),
    }
)


def get_model_class(name: str) -> type[Recommender]:
    """The model class registered under ``name``; the error lists the known names."""
    return REGISTRY[name]


__all__ = ["REGISTRY", "Registry", "get_model_class"]
