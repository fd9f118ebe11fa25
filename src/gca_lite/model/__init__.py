"""ABXI backbone with optional gated cross-attention (GCA) modules.

Modules: ``abxi`` (the backbone, its loss and evaluation API), ``layers`` (dropout, SwiGLU, LoRA,
attention, the token layout shared by backbone and GCA), ``gca`` (the GCA module; its docstring states
our readings of it: composition, LayerNorm placement, masks), ``params`` (parameter counting and the
parameter-matched base), and ``gca_lite.probe`` (orthogonality probe).

Decisions and deviations from the official code (copied to the book's decisions page):

1. Key-padding masks (default, ``abxi_compat=False``): every attention ignores padding keys (left
   padding and the zeros of the sparse training A/B sequences); a row with no valid key outputs 0
   (never NaN). ``abxi_compat=True`` reproduces ABXI's causal-only mask (quirk 1): padding keys are
   attended and contribute the in-projection biases. The two modes agree exactly on inputs without
   padding.
2. Packing (default mode only): the sparse training ``seq_a``/``seq_b`` are packed to their
   non-zero entries (order kept, left-padded per batch) before attention and FFN. With key-padding
   masks this is the same function as running on the 47-position grid (tests check it); the grid
   position of each element is kept for the GCA masks. FFN, projectors and fusion heads run only
   at the positions whose result is used (non-padding targets; z_A only at A-target positions,
   z_B only at B-target positions) via gather, not mask-multiply. Identical values to ABXI's
   mask-multiply because padded rows are multiplied by 0 there. Attention in/out projections, FFNs,
   LayerNorms and the GCA modules run on the valid tokens only; only the attention core uses the
   (B, L) layout. In compat mode the padding keys/values are the in-projection bias, exactly what
   ABXI computes from their zero embedding.
3. Reverse position index (ABXI quirk 7) is kept in both modes: the most recent non-padding entry
   has position 1, counting only non-zero entries of the sparse training A/B sequences, and counting
   back from the end of the whole training sequence (not from the current step).
4. All initialisation randomness comes from the ``torch.Generator`` given to the constructor, in a
   fixed order: ei, ep, MHA (in-projection xavier-uniform, out-projection N(0, 0.02^2)), FFN,
   proj_i, proj_a, proj_b, dLoRA x/a/b, iLoRA A/B, then the GCA points in increasing order (each:
   A-queries-B then B-queries-A). A base model and a GCA model built from equally seeded generators
   therefore share all base weights. Linear N(0, 0.02^2) with zero bias; Embedding
   trunc-normal(0, 0.02, [-0.04, 0.04]) with the padding row (index 0) set to 0 (ABXI re-inits it,
   but it only ever meets a zero mask, except as a never-used column of ``score_all``); LayerNorm
   1/0; LoRA A ~ N(0, 0.02^2) (randn/50), B = 0. The SwiGLU fc1/fc2 weights are stored fused in one
   (2h, d) matrix (same law, one matmul).
5. Dropout (rate ``cfg.dropout`` on embeddings and on every residual branch, as ABXI) draws from
   torch's global RNG, which no generator argument can replace: the trainer must seed it with
   ``torch.manual_seed`` drawn from its own seeded stream before training. The mask comes from
   16-bit lanes of 64-bit random draws (``layers.Dropout``, several times faster than bernoulli on CPU):
   same distribution, rate rounded to a multiple of 2^-15 (exact for ABXI's 0.5), a different random
   stream than ``nn.Dropout``.
6. Evaluation keeps only the last position of every stream after the shared MHA (as ABXI), except
   that with an active GCA at point 1 or 2 the A/B streams are encoded at all positions, so the
   cross-attention sees the full other-domain sequence; the x stream always keeps only the last.
7. The loss averages as ABXI (per user over its A-target positions, then over the batch, users
   without A targets contributing 0; same for B; total = sum). Both domains' negatives are used at
   every position. A negative equal to the position's target is masked out (logit -inf) in both
   negative modes. The per-position mode computes the negative logits with a sampled dense-dense
   product (custom autograd: ``sparse.sampled_addmm`` forward, ``embedding_bag`` backward) instead
   of materialising ABXI's B x L x K x d negative-embedding tensor; the values are the same.
8. LoRA branches compute ``(h B^T) A^T`` instead of ``h (A B)^T`` (same function, float rounding
   differs). SwiGLU blocks run as one autograd function that recomputes ``silu(g) * a`` in backward
   (same values, less memory).
9. All item-embedding lookups of a batch (inputs of the three streams, targets, shared negatives) are
   one ``ei`` lookup, so the dense embedding gradient is formed once per step.

GCA interpretation (points, tensors, masks): see ``gca.py``. Times used by the GCA masks:
training = position on the mixed target grid (an A query at grid t sees B items at grid <= t);
evaluation = index in the mixed history (``order_a``/``order_b``), an element sees the other
domain's elements with order <= its own, and the last position of each stream sees the whole
history (everything precedes the target). With ``gca_mask="day"`` a query sees only the other domain's
elements from strictly earlier days (training: grid positions before the first one of its day,
from ``day_back``; evaluation: ``day_start_a``/``day_start_b``, and for the last position the day of
the history's last item, ``day_start_last``). A training position whose ``seq_a`` entry is 0 (no earlier
A item) has no A element, so it never queries B (its u_a is 0, as in ABXI). Train/eval asymmetry
(inherent to ABXI's aligned sparse training sequences): in training the B stream at grid <= t holds
only the B items that were inputs for B targets up to t, so the most recent B item before an A
target is not yet in it; at evaluation the last A position sees every B item of the history.
"""

from .abxi import ABXI, reverse_positions
from .gca import GCADirection, GCAPoint, Record
from .params import analytic_parameters, count_parameters, matched_base_config

__all__ = ["ABXI", "GCADirection", "GCAPoint", "Record", "analytic_parameters", "count_parameters",
           "matched_base_config", "reverse_positions"]
