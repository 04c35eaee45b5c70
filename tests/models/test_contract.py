"""The shared contract suite (``seqrec.testing.RecommenderContract``) over every registered model.

Each model must: fail clearly before ``fit``; reject a misspelt config field and a value outside a
``Literal``'s choices; be deterministic; recommend k distinct real items, without excluded items
(its history, or extra items) and removed before the cut; explain itself; get the known answer it
declares in its ``contract`` (see ``seqrec.testing.cycle_world``); be evaluated the same from its
ranked lists as from its dense scores where no tie is involved; and, for dense scorers, return
scores of shape [B, n_items + 1] with the padding column at -inf, score a batch exactly as each row
alone, break equal scores towards the smaller id, and rerank candidates by those scores.

What a model needs and offers (a world's generator, dense scores or lists only) is read from its
class, never from a list of names here.
"""

from __future__ import annotations

from seqrec.models import REGISTRY
from seqrec.testing import RecommenderContract


def _suite(name: str) -> type[RecommenderContract]:
    model_class = REGISTRY[name]
    title = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
    return type(f"TestContract{title}", (RecommenderContract,), {"model_class": model_class, "__module__": __name__})


for _name in REGISTRY:
    _cls = _suite(_name)
    globals()[_cls.__name__] = _cls
