"""Where an encoder's network runs: eager PyTorch (``"torch"``) or ONNX Runtime (``"onnx"``).

ONNX Runtime runs the convolutional encoders about twice as fast as eager PyTorch on a laptop
CPU.  :func:`with_backend` returns an encoder with the same name, id, preprocessing and features
(agreeing to 1e-4) whose forward runs on the chosen backend; the ONNX graph is exported in memory
when the model loads (about a second), so nothing is written to disk.  Only encoders that set
``onnx_exportable`` are converted; the others (photometric statistics, CLIP) keep PyTorch, and
parts of a :class:`~phoneiqa.encoders.base.ConcatEncoder` are converted one by one.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torch import Tensor

from phoneiqa.encoders.base import ConcatEncoder, Encoder

BACKENDS = ("auto", "torch", "onnx")
EXPORT_SIZE = (384, 512)  # any size works at run time (dynamic axes); this one is only traced
OPSET = 17


def onnx_available() -> bool:
    """Whether ``onnxruntime`` can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str) -> str:
    """``"auto"`` -> ``"onnx"`` when ONNX Runtime is installed, else ``"torch"``; others validated."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "auto":
        return "onnx" if onnx_available() else "torch"
    if backend == "onnx" and not onnx_available():
        raise ImportError("backend 'onnx' needs onnxruntime: pip install onnxruntime")
    return backend


def export_onnx(encoder: Encoder) -> bytes:
    """The encoder's forward as an ONNX model (batch, height and width dynamic)."""
    example = torch.zeros(1, 3, *EXPORT_SIZE)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            encoder,
            (example,),
            buffer,
            input_names=["image"],
            output_names=["features"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "features": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


class OnnxEncoder(Encoder):
    """An exported encoder run by ONNX Runtime; the same name, id, preprocessing and feature size.

    ``threads``: ONNX Runtime's intra-op threads (default: PyTorch's thread count).
    ``session.run`` is thread-safe, so one instance can serve several threads.
    """

    def __init__(self, encoder: Encoder, threads: int | None = None) -> None:
        import onnxruntime as ort

        super().__init__()
        self.name = encoder.name
        self.feature_dim = encoder.feature_dim
        self.preprocess = encoder.preprocess
        self._id = encoder.encoder_id()
        self._weights_id = encoder.weights_id()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(export_onnx(encoder), options, providers=["CPUExecutionProvider"])

    def encoder_id(self) -> str:
        return self._id

    def weights_id(self) -> str:
        return self._weights_id

    def forward(self, x: Tensor) -> Tensor:
        out = self.session.run(None, {"image": np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)})
        return torch.from_numpy(out[0])


def with_backend(encoder: Encoder, backend: str = "auto", threads: int | None = None) -> Encoder:
    """``encoder`` running on ``backend`` (see the module docstring); the torch backend returns it as is."""
    if resolve_backend(backend) == "torch":
        return encoder

    def convert(part: Encoder) -> Encoder:
        return OnnxEncoder(part, threads) if part.onnx_exportable else part

    if isinstance(encoder, ConcatEncoder):
        return ConcatEncoder([convert(part) for part in encoder.parts])
    return convert(encoder)
