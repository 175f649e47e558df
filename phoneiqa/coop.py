"""CoOp prompt learning (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV 2022).

Each class phrase becomes the prompt ``[SOS] [V]_1 … [V]_M <phrase>. [EOS]``: the M context
vectors ``[V]`` live in the token-embedding space and are the only trainable parameters; the
CLIP text tower they run through stays frozen.  The context is shared by all classes
("unified") or one per class ("class-specific"), initialised from N(0, 0.02²) or from the token
embeddings of a phrase such as ``"a photo of a"``.  After training the text features are
constants (:meth:`PromptLearner.cached_text_features`): inference needs only the image tower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phoneiqa.encoders.clip import ClipEncoder, TextTower

PLACEHOLDER = "X"
"""Word holding the context slots when the prompts are tokenised (its embeddings are replaced)."""
INIT_STD = 0.02


class PromptLearner(nn.Module):
    """Learnable prompt contexts for ``class_phrases``; :meth:`forward` gives their text features ``[C, E]``.

    ``init``: a phrase whose token embeddings initialise the context (``n_ctx`` is then its token
    count), or ``None`` for random N(0, 0.02²) vectors.  The state dict holds only the context
    ``ctx`` (``[M, W]`` unified, ``[C, M, W]`` class-specific); the text tower is the CLIP
    encoder's, not a submodule, and is frozen here (``requires_grad`` off) so gradients reach
    the context alone.  Move the CLIP encoder and this module to the same device.
    """

    def __init__(
        self,
        clip_encoder: ClipEncoder,
        class_phrases: list[str],
        n_ctx: int = 4,
        class_specific: bool = False,
        init: str | None = None,
    ) -> None:
        super().__init__()
        if not class_phrases:
            raise ValueError("PromptLearner needs at least one class phrase")
        self.text: TextTower = clip_encoder.text_tower()
        for param in self.text.parameters():
            param.requires_grad_(False)
        self.class_phrases = list(class_phrases)
        self.class_specific = class_specific
        embedding = self.text.token_embedding
        with torch.no_grad():
            if init is None:
                if n_ctx < 1:
                    raise ValueError(f"n_ctx must be positive, got {n_ctx}")
                ctx = torch.randn(n_ctx, embedding.embedding_dim, dtype=embedding.weight.dtype) * INIT_STD
                context_words = " ".join([PLACEHOLDER] * n_ctx)
            else:
                init_tokens = phrase_tokens(self.text, init)
                n_ctx, context_words = len(init_tokens), init
                ctx = embedding(init_tokens)
            self.n_ctx = n_ctx
            tokens = self.text.tokenize([f"{context_words} {phrase}." for phrase in self.class_phrases])
            check_context_slots(self.text, tokens, context_words, n_ctx)
            embedded = embedding(tokens)
        if class_specific:
            ctx = ctx.expand(len(class_phrases), -1, -1).clone()
        self.ctx = nn.Parameter(ctx.to(embedding.weight.device))
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("prefix", embedded[:, :1], persistent=False)
        self.register_buffer("suffix", embedded[:, 1 + n_ctx :], persistent=False)
        self._cache: tuple[Tensor, Tensor] | None = None

    def prompt_embeddings(self) -> Tensor:
        """``[C, L, W]`` token embeddings of the prompts with the current context."""
        ctx = self.ctx if self.class_specific else self.ctx.expand(len(self.class_phrases), -1, -1)
        return torch.cat([self.prefix, ctx, self.suffix], dim=1)

    def forward(self) -> Tensor:
        """``[C, E]`` L2-normalised text features of the prompts (differentiable in the context)."""
        return F.normalize(self.text.encode_embeddings(self.prompt_embeddings(), self.tokens), dim=-1)

    @torch.no_grad()
    def cached_text_features(self) -> Tensor:
        """:meth:`forward` without gradients, recomputed only when the context has changed."""
        ctx = self.ctx.detach()
        cache = self._cache
        if cache is None or cache[0].device != ctx.device or not torch.equal(cache[0], ctx):
            self._cache = cache = (ctx.clone(), self.forward())
        return cache[1]


def phrase_tokens(text: TextTower, phrase: str) -> Tensor:
    """Token ids of ``phrase`` without start, end and padding tokens."""
    tokens = text.tokenize([phrase])[0]
    eot = int(tokens.argmax())
    if eot < 2:
        raise ValueError(f"init phrase {phrase!r} has no tokens")
    return tokens[1:eot]


def check_context_slots(text: TextTower, tokens: Tensor, context_words: str, n_ctx: int) -> None:
    """Raise unless every prompt holds the ``n_ctx`` context tokens right after its start token."""
    expected = text.tokenize([context_words])[0][1 : 1 + n_ctx]
    if len(expected) != n_ctx or not bool((tokens[:, 1 : 1 + n_ctx] == expected).all()):
        raise ValueError(
            f"the tokenizer does not place {n_ctx} context tokens after a start token for {context_words!r}; "
            "prompt learning needs a CLIP-style tokenizer"
        )
