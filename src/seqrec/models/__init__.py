"""Models and the explicit registry that maps names to classes.

No import-by-string tricks: every model is imported here and listed in ``REGISTRY``.
"""

from __future__ import annotations

from seqrec.models.als import ImplicitALS
from seqrec.models.base import Recommender
from seqrec.models.bpr import BPRMF
from seqrec.models.fossil import Fossil
from seqrec.models.fpmc import FPMC
from seqrec.models.item2vec import Item2Vec
from seqrec.models.item_knn import ItemKNN
from seqrec.models.markov import MarkovChain, MarkovChainK
from seqrec.models.neural.bert4rec import BERT4Rec
from seqrec.models.neural.caser import Caser
from seqrec.models.neural.cl4srec import CL4SRec
from seqrec.models.neural.duorec import DuoRec
from seqrec.models.neural.gru4rec import GRU4Rec
from seqrec.models.neural.narm import NARM
from seqrec.models.neural.nextitnet import NextItNet
from seqrec.models.neural.sasrec import SASRec
from seqrec.models.neural.srgnn import SRGNN
from seqrec.models.oracle import ObservableOracle, OracleRecommender
from seqrec.models.popularity import Popularity
from seqrec.models.sequential_rules import SequentialRules
from seqrec.models.session_knn import SKNN, VSKNN
from seqrec.models.transrec import TransRec

REGISTRY: dict[str, type[Recommender]] = {
    OracleRecommender.name: OracleRecommender,
    ObservableOracle.name: ObservableOracle,
    Popularity.name: Popularity,
    ImplicitALS.name: ImplicitALS,
    MarkovChain.name: MarkovChain,
    MarkovChainK.name: MarkovChainK,
    SequentialRules.name: SequentialRules,
    ItemKNN.name: ItemKNN,
    BPRMF.name: BPRMF,
    FPMC.name: FPMC,
    Fossil.name: Fossil,
    TransRec.name: TransRec,
    GRU4Rec.name: GRU4Rec,
    SASRec.name: SASRec,
    BERT4Rec.name: BERT4Rec,
    NARM.name: NARM,
    Caser.name: Caser,
    NextItNet.name: NextItNet,
    SRGNN.name: SRGNN,
    CL4SRec.name: CL4SRec,
    DuoRec.name: DuoRec,
    SKNN.name: SKNN,
    VSKNN.name: VSKNN,
    Item2Vec.name: Item2Vec,
}


def get_model_class(name: str) -> type[Recommender]:
    """The model class registered under ``name``; the error lists the known names."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


__all__ = ["REGISTRY", "Recommender", "get_model_class"]
