"""The transformer blocks: masks, and the fast attention path against the explicit reference."""

from __future__ import annotations

import torch

from seqrec.models.neural.blocks import (
    BertBlock,
    MultiHeadSelfAttention,
    SASRecBlock,
    attention_mask,
)

IDS = torch.tensor([[0, 0, 3, 1, 2], [4, 1, 2, 3, 5]])  # left-padded batch [2, 5]


def test_causal_mask_hides_padding_and_future() -> None:
    allowed = attention_mask(IDS, causal=True)[0, 0]  # [5, 5] for the padded row
    # Query 3 (item 1) sees keys 2 and 3 (real, not in the future), not 0-1 (padding) or 4 (future).
    assert allowed[3].tolist() == [False, False, True, True, False]
    # A padding query sees only itself, so its softmax row is never empty.
    assert allowed[0].tolist() == [True, False, False, False, False]


def test_bidirectional_mask_hides_only_padding() -> None:
    allowed = attention_mask(IDS, causal=False)[0, 0]
    assert allowed[2].tolist() == [False, False, True, True, True]


def test_fast_attention_equals_explicit_reference() -> None:
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(dim=8, n_heads=2, dropout=0.3, output_projection=True).eval()
    x = torch.randn(2, 5, 8)
    for causal in (True, False):
        allowed = attention_mask(IDS, causal)
        fast = attention(x, x, allowed)
        slow, weights = attention.forward_with_weights(x, x, allowed)
        torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 5))  # rows are distributions
        assert float(weights.detach().masked_select(~allowed.expand_as(weights)).abs().max()) == 0.0


def test_blocks_fast_and_reference_paths_agree() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    keep = (IDS != 0).unsqueeze(-1).float()
    sasrec = SASRecBlock(8, 2, 0.2).eval()
    allowed = attention_mask(IDS, causal=True)
    torch.testing.assert_close(sasrec(x, allowed, keep), sasrec.forward_with_weights(x, allowed, keep)[0])
    bert = BertBlock(8, 2, 32, 0.2, 0.2).eval()
    allowed = attention_mask(IDS, causal=False)
    torch.testing.assert_close(bert(x, allowed), bert.forward_with_weights(x, allowed)[0])
