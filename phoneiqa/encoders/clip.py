"""Any open_clip model as a frozen image encoder, with its text tower exposed for prompt learning.

The model comes from ``open_clip.create_model(model_name, pretrained=...)``: ``pretrained`` is an
open_clip tag (downloaded by open_clip when online), a local checkpoint file, or ``None`` for
random weights.  Preprocessing follows CLIP's: the short side is resized to the model's image size
and the centred square is cut out, normalised with the model's mean and std.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phoneiqa.encoders import ENCODERS
from phoneiqa.encoders.base import Encoder, Preprocess
from phoneiqa.extras import require


class TextTower:
    """The frozen text encoder of an open_clip model, run from token embeddings instead of tokens.

    A view, not a module: it reads the layers from the model at call time (so it follows the
    model across devices) and contributes no parameters to a module that holds it.
    ``encode_embeddings(token_embedding(tokens), tokens)`` equals the model's ``encode_text(tokens)``.
    """

    def __init__(self, model: nn.Module, tokenizer: Callable[..., Tensor]) -> None:
        text = getattr(model, "text", model)
        supported = isinstance(getattr(text, "token_embedding", None), nn.Embedding)
        if not supported or getattr(text, "cls_emb", None) is not None or getattr(text, "use_pad_mask", False):
            raise ValueError(
                f"{type(text).__name__}: prompt learning needs an open_clip TextTransformer "
                "without CLS token or padding mask"
            )
        self.layers = text
        self.tokenizer = tokenizer
        self.pool_type: str = getattr(text, "text_pool_type", None) or text.pool_type
        self.eos_id: int | None = getattr(text, "text_eos_id", getattr(text, "eos_id", None))

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.layers.token_embedding

    def parameters(self) -> list[nn.Parameter]:
        """Every parameter of the text tower (embeddings, transformer, final norm, projection)."""
        t = self.layers
        parts: list[nn.Module | Tensor | None] = [t.token_embedding, t.positional_embedding, t.transformer]
        parts += [t.ln_final, t.text_projection]
        params: list[nn.Parameter] = []
        for part in parts:
            if isinstance(part, nn.Module):
                params += list(part.parameters())
            elif isinstance(part, nn.Parameter):
                params.append(part)
        return params

    def tokenize(self, texts: list[str]) -> Tensor:
        """``[N, context_length]`` token ids of ``texts``, on the tower's device."""
        return self.tokenizer(texts).to(self.token_embedding.weight.device)

    def encode_embeddings(self, embeddings: Tensor, tokens: Tensor) -> Tensor:
        """``[N, E]`` unnormalised text features of token embeddings ``[N, L, W]``.

        ``tokens`` (``[N, L]``) only locate the pooled position (the end-of-text token).
        """
        from open_clip.transformer import text_global_pool

        t = self.layers
        x = embeddings + t.positional_embedding.to(embeddings.dtype)
        x = t.ln_final(t.transformer(x, attn_mask=t.attn_mask))
        x = text_global_pool(x, tokens, self.pool_type, eos_token_id=self.eos_id)
        if isinstance(t.text_projection, nn.Linear):
            return t.text_projection(x)
        return x if t.text_projection is None else x @ t.text_projection


class ClipEncoder(Encoder):
    """Frozen open_clip image tower; features are image embeddings (L2-normalised by default)."""

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str | Path | None = None,
        normalize: bool = True,
        flip: bool = False,
    ) -> None:
        super().__init__()
        open_clip = require("open_clip", "the 'clip' encoder")

        pretrained = None if pretrained is None else str(pretrained)
        self.model_name = model_name
        self.pretrained = pretrained
        self.normalize = normalize
        self.model = open_clip.create_model(model_name, pretrained=pretrained)
        self.tokenizer = open_clip.get_tokenizer(model_name)
        cfg = open_clip.get_model_preprocess_cfg(self.model)
        size = cfg["size"] if isinstance(cfg["size"], int) else cfg["size"][0]
        if not isinstance(cfg["size"], int) and len(set(cfg["size"])) != 1:
            raise ValueError(f"{model_name}: non-square input size {cfg['size']} is not supported")
        self.preprocess = Preprocess(size, None, window=size, flip=flip, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]))
        self.requires_grad_(False)
        self.eval()
        with torch.no_grad():
            self.feature_dim = self(torch.zeros(1, 3, size, size)).shape[1]

    def weights_id(self) -> str:
        if self.pretrained is None:
            return f"{self.model_name}:random"
        return f"{self.model_name}:{Path(self.pretrained).name}"

    def encoder_id(self) -> str:
        return f"{super().encoder_id()}|n{int(self.normalize)}"

    def forward(self, x: Tensor) -> Tensor:
        features = self.model.encode_image(x)
        return F.normalize(features, dim=-1) if self.normalize else features

    def text_tower(self) -> TextTower:
        """The text encoder, for prompt learning (:class:`phoneiqa.coop.PromptLearner`)."""
        return TextTower(self.model, self.tokenizer)


ENCODERS.register("clip")(ClipEncoder)
