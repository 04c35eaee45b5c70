"""The adapter that makes a :class:`~seqrec.models.neural.network.SequenceNetwork` a Recommender.

:class:`NeuralRecommender` is generic in its config type (``GRU4Rec(NeuralRecommender[GRU4RecConfig])``),
so ``self.config`` is type-checked per model. It builds the network (``build_network``), fits it
with the shared :class:`~seqrec.models.neural.trainer.Trainer` and scores with it; explanations
start from :meth:`NeuralRecommender.explain_inputs`. :class:`AttentionRecommender` adds the one
attention explanation of the transformer models (SASRec, BERT4Rec, CL4SRec, DuoRec).

Saved state (:meth:`NeuralRecommender.state`): the network's ``state_dict()`` tensors as
``network.<name>`` arrays (safetensors-compatible) and the training record (per-epoch losses,
metrics and times); :meth:`NeuralRecommender.restore` rebuilds the network with
``build_network(n_items)``, loads the weights and puts it in eval mode.
"""

from __future__ import annotations

import dataclasses
import warnings
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import torch
from torch import Tensor

from seqrec.data.splits import EvalSet
from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import (
    Capabilities,
    Explanation,
    Recommender,
    StateArrays,
    StateValues,
    load_module_arrays,
    module_arrays,
    with_bias,
)
from seqrec.models.neural.batching import history_inputs, history_timestamps
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.explanations import (
    AttentionNetwork,
    attention_explanation,
    final_query_attention,
)
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.trainer import (
    EpochRecord,
    Trainer,
    TrainingResult,
    last_hidden,
    score_histories,
)

NeuralConfigT = TypeVar("NeuralConfigT", bound=NeuralConfig)


class NeuralRecommender(Recommender[NeuralConfigT]):
    """A :class:`Recommender` backed by a :class:`SequenceNetwork` and the shared trainer.

    Subclasses set ``name`` and ``Config`` (a :class:`NeuralConfig` subclass, also the type
    parameter) and implement :meth:`build_network`. After ``fit``: ``self.network`` (in eval mode,
    best validation epoch's weights restored) and ``self.training`` (per-epoch losses, metrics and
    times).
    """

    name: ClassVar[str] = "neural"
    Config: ClassVar[type] = NeuralConfig
    capabilities: ClassVar[Capabilities] = Capabilities(embedding_scores=True)
    era: ClassVar[int] = 2
    sequential: ClassVar[bool] = True
    state_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.network: SequenceNetwork | None = None
        self.training: TrainingResult | None = None

    @abstractmethod
    def build_network(self, n_items: int) -> SequenceNetwork:
        """A freshly initialised network for ``n_items`` items (seeded by the trainer)."""

    def _fit(
        self,
        train: SequenceData,
        valid: EvalSet | None,
        *,
        callbacks: Sequence[Callable[[EpochRecord], None]] = (),
    ) -> None:
        """Train on ``train``; with ``valid``, early-stop on its NDCG@10 and keep the best epoch.

        ``callbacks`` run after every epoch with its record (raising from one interrupts
        training; the checkpoint of that epoch is already written).
        """
        if valid is not None and not isinstance(valid, EvalSet):
            raise TypeError(f"{self.name}.fit: valid must be an EvalSet, got {type(valid).__name__}")
        trainer = Trainer(self.config, lambda: self.build_network(train.n_items), callbacks=callbacks)
        self.network, self.training = trainer.fit(train, valid)
        self.n_items = train.n_items

    def state(self) -> tuple[StateArrays, StateValues]:
        arrays, values = super().state()
        arrays.update(module_arrays(self.require_network(), "network"))
        values["training"] = dataclasses.asdict(self.training) if self.training is not None else None
        return arrays, values

    def restore(self, arrays: Mapping[str, np.ndarray], values: Mapping[str, Any], *, items: ItemInfo | None = None) -> Self:
        super().restore(arrays, values, items=items)
        network = self.build_network(self.require_fitted())
        load_module_arrays(network, arrays, "network")
        self.network = network.to(self._usable_device()).eval()
        record = values.get("training")
        if record is not None:
            epochs = [EpochRecord(**epoch) for epoch in record["records"]]
            self.training = TrainingResult(**{**record, "records": epochs})
        return self

    def _usable_device(self) -> str:
        """``config.device``, or the CPU (with a warning) for a CUDA device this machine lacks."""
        device = self.config.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            warnings.warn(f"{self.name} was trained on {device!r}, which this machine lacks: scoring on the CPU", stacklevel=3)
            self.config.device = device = "cpu"
        return device

    def require_network(self) -> SequenceNetwork:
        """The trained network; raises if ``fit`` has not run."""
        self.require_fitted()
        assert self.network is not None
        return self.network

    def check_item(self, item: int) -> int:
        """``n_items`` after checking the model is fitted and ``item`` is a real item (for ``explain``)."""
        n_items = self.require_fitted()
        if not 1 <= int(item) <= n_items:
            raise ValueError(f"{self.name}.explain: item {item} is not in 1..{n_items}")
        return n_items

    def history_input(self, history: Sequence[int]) -> tuple[SequenceNetwork, Tensor]:
        """The trained network (in eval mode) and its input ``[1, max_len]`` for one history."""
        network = self.require_network()
        histories = SequenceData.from_lists([list(history)], self.require_fitted())
        inputs = history_inputs(histories, self.config.max_len, network.objective)
        network.eval()
        return network, inputs.to(self.config.device)

    def timed_history_input(
        self, history: Sequence[int], timestamps: Sequence[int] | None = None
    ) -> tuple[SequenceNetwork, Tensor, Tensor]:
        """:meth:`history_input` plus the aligned timestamps ``[1, max_len]`` (for time networks).

        Without ``timestamps`` the history's items are taken to be one second apart (what
        ``SequenceData.from_lists`` assumes).
        """
        network = self.require_network()
        times = None if timestamps is None else [list(map(int, timestamps))]
        if times is not None and len(times[0]) != len(history):
            raise ValueError(f"{self.name}: {len(times[0])} timestamps for a history of {len(history)} items")
        histories = SequenceData.from_lists([list(history)], self.require_fitted(), timestamps=times)
        inputs = history_inputs(histories, self.config.max_len, network.objective)
        input_times = history_timestamps(histories, self.config.max_len, network.objective)
        network.eval()
        return network, inputs.to(self.config.device), input_times.to(self.config.device)

    def explain_inputs(self, history: Sequence[int], item: int) -> tuple[SequenceNetwork, Tensor]:
        """:meth:`history_input` after :meth:`check_item`: the shared first step of ``explain``."""
        self.check_item(item)
        return self.history_input(history)

    def score_of(self, history: Sequence[int], item: int) -> float:
        """The score of a real ``item`` after one history, as :meth:`checked_scores` gives it."""
        n_items = self.check_item(item)
        return float(self.checked_scores(SequenceData.from_lists([list(history)], n_items))[0, item])

    def _score(self, histories: SequenceData) -> np.ndarray:
        return score_histories(self.require_network(), histories, self.config)  # [B, n_items + 1]

    def query_vectors(self, histories: SequenceData) -> np.ndarray:
        """The hidden state at the last position [B, D] (``[B, D + 1]`` with a trailing 1 where
        the network has an output bias): ``score == query_vectors @ item_vectors.T``."""
        network = self.require_network()
        hidden = last_hidden(network, histories, self.config)
        return hidden if network.item_bias() is None else with_bias(hidden, 1.0)

    def item_vectors(self) -> np.ndarray:
        """The output item embeddings [n_items + 1, D], with the output bias as one more column."""
        network = self.require_network()
        with torch.no_grad():
            table = network.item_embeddings().float().cpu().numpy()
            bias = network.item_bias()
            return table if bias is None else with_bias(table, bias.float().cpu().numpy())

    def config_dict(self) -> dict[str, Any]:
        """The config as a plain dict (for results files)."""
        return dataclasses.asdict(self.config)


class AttentionRecommender(NeuralRecommender[NeuralConfigT]):
    """A :class:`NeuralRecommender` whose network has an explicit attention path
    (:class:`~seqrec.models.neural.explanations.AttentionNetwork`), explained by the attention of
    its last block's final query over the history.

    Subclasses set ``title`` (how the summary names the model; default ``name``) and
    ``attention_focus`` (what the final query does, e.g. ``"; predicting the next item it"``).
    """

    title: ClassVar[str] = ""
    attention_focus: ClassVar[str] = "; predicting the next item it"

    def attention_over_history(self, history: Sequence[int]) -> np.ndarray:
        """Weights ``[min(len(history), L)]`` of the last block's final query (averaged over heads)
        over the history's tail; a masked-LM's final query is the appended [mask], which is no
        history item (``L = max_len - 1`` there, ``max_len`` otherwise)."""
        network, inputs = self.history_input(history)
        masked = network.objective is Objective.MASKED
        if not isinstance(network, AttentionNetwork):
            raise TypeError(f"{self.name}: {type(network).__name__} has no encode_with_attention")
        history_end = inputs.shape[1] - 1 if masked else inputs.shape[1]
        return final_query_attention(network, inputs, len(history), history_end)

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        score = self.score_of(history, item)
        return attention_explanation(
            self.name,
            item,
            history,
            self.attention_over_history(history),
            f"{self.title or self.name} scores item {item} at {score:.3f}",
            self.attention_focus,
        )
