"""The int8 form of the shipped models: ONNX Runtime static quantisation (QDQ) of their packed runtimes.

``phoneiqa.load(name, backend="int8")`` runs a shipped model with its EfficientNet encoders in int8:
uint8 activations, int8 weights per output channel, calibrated (min/max) on photos at build time.
Only the encoders' convolutions, their ReLU6 clips, residual additions and paddings are quantised; the
input normalisation, the multi-level feature pooling and both heads stay float.

The package ships no int8 weights: they are derived from the packed float16 weights when first loaded
(per-channel weight quantisation is a function of the weights), and only the activation ranges found
by calibration are shipped, ``<stem>.int8-ranges.json`` (a few kB) beside the packed runtime.  The
quantised graph is built once per process environment and cached under ``$PHONEIQA_CACHE/runtime``;
building it needs the ``onnx`` package (the ``int8`` extra), running it only ONNX Runtime.

On CPUs without 8-bit dot-product instructions (AVX2 only, no AVX-512 VNNI / AVX-VNNI) ONNX Runtime's
int8 convolutions are about as fast as its float ones, so the float form stays the default
(``benchmarks/bench_assess.py`` measures both; ``tests/test_pretrained.py`` bounds their difference).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from phoneiqa.cache import default_cache_dir
from phoneiqa.extras import needs_extras
from phoneiqa.preprocess import load_scaled
from phoneiqa.runtime import Runtime, graph_input_names, prepare_inputs, runtime_parts, store_cached
from phoneiqa.version import __version__

QUANTISED_OPS = ("Conv", "Clip", "Add", "Pad")
"""The operator types quantised, inside the encoders (nodes named ``/parts.<i>/...``) only."""
INT8_FORMAT = 2
"""Version of the quantisation recipe; part of the cache key."""


def ranges_file(spec_file: Path) -> Path:
    """Where the activation ranges of the packed runtime ``<stem>.runtime.json`` are: ``<stem>.int8-ranges.json``."""
    return spec_file.with_name(spec_file.name.replace(".runtime.json", ".int8-ranges.json"))


def float_graph(spec_file: Path):
    """The packed runtime as one self-contained float32 ``onnx.ModelProto`` (its float16 weights widened)."""
    import onnx
    from onnx import numpy_helper

    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    model = onnx.load(
        str(spec_file.with_name(spec_file.name.replace(".runtime.json", ".onnx"))), load_external_data=False
    )
    shards: dict[str, np.lib.npyio.NpzFile] = {}
    try:
        for init in model.graph.initializer:
            if init.name not in spec.get("external", {}):
                continue
            shard, key = spec["external"][init.name]
            if shard not in shards:
                shards[shard] = np.load(spec_file.parent / shard)
            init.CopyFrom(numpy_helper.from_array(shards[shard][key].astype(np.float32), init.name))
    finally:
        for arrays in shards.values():
            arrays.close()
    _own_weights(model)
    return model


def _own_weights(model) -> None:
    """Give each node its own initializers where the exporter shared equal ones through ``Identity`` nodes (two
    views of one network): the quantiser quantises a node's weights only when they are initializers."""
    inits = {init.name: init for init in model.graph.initializer}
    shared = [n for n in model.graph.node if n.op_type == "Identity" and n.input[0] in inits]
    for node in shared:
        copy = model.graph.initializer.add()
        copy.CopyFrom(inits[node.input[0]])
        copy.name = node.output[0]
        model.graph.node.remove(node)


def _quantize(model_path: Path, out: Path, ranges: Path, reader=None) -> None:
    """``quantize_static`` with this module's recipe; ``reader`` None reads the ranges from ``ranges``,
    else calibrates on it and writes them there."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(model_path))
    outside = [n.name for n in model.graph.node if not n.name.startswith("/parts.")]
    silenced = logging.root.manager.disable
    logging.disable(logging.WARNING)  # the quantiser's advice goes to the root logger, not to warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(
                str(model_path),
                str(out),
                reader,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(QUANTISED_OPS),
                nodes_to_exclude=outside,
                per_channel=True,
                reduce_range=False,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                calibration_cache_path=str(ranges),
            )
    finally:
        logging.disable(silenced)


class _Photos:
    """A calibration data reader: each photo as the graph's feeds (batch of one)."""

    def __init__(self, spec: dict, photos: Sequence[Path]) -> None:
        self.parts = runtime_parts(spec)
        self.names = graph_input_names([kind for _, kind, _ in self.parts])
        self.side = max(p.short_side for _, _, p in self.parts)
        self.photos = iter(photos)

    def get_next(self) -> dict[str, np.ndarray] | None:
        path = next(self.photos, None)
        if path is None:
            return None
        arrays = prepare_inputs(load_scaled(path, self.side), self.parts)
        return {name: a[None] for name, a in zip(self.names, arrays, strict=True)}


def calibrate(spec_file: Path, photos: Iterable[Path]) -> Path:
    """Calibrate the packed runtime ``spec_file`` on ``photos`` and write its activation ranges
    (:func:`ranges_file`; build time, e.g. ``tools/calibrate_int8.py``).  Returns that file."""
    target = ranges_file(spec_file)
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "float.onnx"
        onnx.save(float_graph(spec_file), str(source))
        target.unlink(missing_ok=True)
        _quantize(source, Path(tmp) / "int8.onnx", target, _Photos(spec, list(photos)))
    return target


def load_int8(spec_file: Path, threads: int | None = None, cache_dir: Path | None = None) -> Runtime:
    """The int8 runtime of the packed model ``spec_file``: from the cache, or quantised with its shipped
    activation ranges and cached (needs the ``onnx`` package once)."""
    ranges = ranges_file(spec_file)
    if not ranges.is_file():
        raise FileNotFoundError(f"{spec_file.name}: no int8 calibration ({ranges.name}) beside it")
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    digest = hashlib.sha256(spec_file.read_bytes() + ranges.read_bytes())
    key = f"{digest.hexdigest()[:20]}-{__version__}-int8-{INT8_FORMAT}"
    folder = (cache_dir or default_cache_dir()) / "runtime" / key
    if (folder / "model.onnx").is_file():
        return Runtime(folder / "model.onnx", spec, threads)
    with needs_extras(f"building the int8 form of {spec_file.name}", "int8"):
        import onnx
    from phoneiqa.progress import note

    note(f"phoneiqa: quantising {spec_file.name} to int8 (once, about 20 s; cached)")
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(float_graph(spec_file), str(source))
        _quantize(source, out, ranges)
        payload = out.read_bytes()
    store_cached(folder, {"model.onnx": payload}, "int8")
    return Runtime(payload, spec, threads)
