"""The torch-free inference path: a trained model compiled once into ONNX Runtime + numpy.

Importing torch costs about half a gigabyte of memory and a second or two, and eager PyTorch
pays a Python overhead per operation.  :func:`compile_model` turns a :class:`~phoneiqa.model.Model`
into one ONNX graph — the network encoders (those with ``onnx_exportable``), the feature
standardisation and both heads, ending in the score and the HEX node potentials — plus a JSON
spec of the preprocessing.  :class:`Runtime` runs it with numpy, Pillow and ONNX Runtime only:
the photometric statistics, the exact HEX-CRF level probabilities and the median levels are
computed in numpy (:mod:`phoneiqa.photometric`, :meth:`hexgraph.HexGraph.predict_levels`,
:func:`hexgraph.median_levels`).

:func:`load_runtime` compiles a checkpoint on first use (this step needs torch), checks that the
compiled model agrees with the PyTorch one, and caches the result under
``$PHONEIQA_CACHE/runtime`` keyed by the checkpoint's SHA-256, the phoneiqa version and :data:`FORMAT`, so later
processes never import torch.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from hexgraph import median_levels
from phoneiqa.assessment import Assessment, Assessor, make_assessments
from phoneiqa.cache import default_cache_dir
from phoneiqa.exposure import exposure_features
from phoneiqa.extras import needs_extras
from phoneiqa.labels import level_names, load_graph
from phoneiqa.photometric import photometric_features
from phoneiqa.preprocess import Preprocess, batches_by_key, resize_image

if TYPE_CHECKING:
    from phoneiqa.model import Model
    from phoneiqa.specs import ModelSpec

Part = tuple[str, str, Preprocess]
"""An encoder part of a compiled model: (encoder name, ``"onnx"`` or ``"numpy"``, its preprocessing)."""
NUMPY_PARTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "photometric": photometric_features,
    "exposure": exposure_features,
}
"""Encoder parts computed in numpy from uint8 ``[B, H, W, 3]`` pixels, by encoder name."""
OPSET = 17
TOLERANCE = 1e-4
FORMAT = 3
"""Version of the compiled form (inputs and outputs of the graph, spec fields); part of the cache key."""


class RuntimeUnsupported(ValueError):
    """The model has a part the runtime cannot run (use the PyTorch backend)."""


class Runtime(Assessor):
    """A compiled model, the backend without torch: ``assess`` as :class:`~phoneiqa.model.Model`'s.

    ``onnx``: the compiled graph (bytes or a path); ``spec``: what :func:`compile_model` returned
    beside it (the parts' preprocessing and the label spec); ``threads``: ONNX Runtime's intra-op
    threads (default: all cores).  Safe to call from several threads at once.
    """

    def __init__(
        self,
        onnx: bytes | str | os.PathLike,
        spec: dict[str, Any],
        threads: int | None = None,
        weights: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: not the int8 graphs' notes on unused initializers
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # memory patterns planned per input shape, on top of the arena, held a batch of 8 photos' activations
        # twice: 709 MB against 433 MB without, at the same speed
        options.enable_mem_pattern = False
        if weights:  # a packed graph's external initializers (see pack_runtimes), kept alive with the session
            self._weights = {name: np.ascontiguousarray(w, dtype=np.float32) for name, w in weights.items()}
            values = [ort.OrtValue.ortvalue_from_numpy(w) for w in self._weights.values()]
            options.add_external_initializers(list(self._weights), values)
        self.threads = threads
        model = onnx if isinstance(onnx, bytes) else os.fspath(onnx)
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.parts = runtime_parts(spec)
        self.input_names = graph_input_names([kind for _, kind, _ in self.parts])
        self.short_side = max(p.short_side for _, _, p in self.parts)
        self.graph = load_graph(spec["issue_spec"]) if spec["issue_spec"] else None
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.labels: tuple[str, ...] = tuple(lab.key for lab in self.graph.labels) if self.graph else ()
        self.level_names: dict[str, tuple[str, ...]] = level_names(self.graph) if self.graph else {}
        self.has_score = "score" in self.outputs

    def predict_images(self, images: Sequence[Image.Image], batch_size: int = 32) -> dict[str, np.ndarray]:
        """``score [B]``, ``probabilities [B, L, K]`` and ``levels [B, L]`` (those the model has)."""
        return self.predict_inputs([prepare_inputs(image, self.parts) for image in images], batch_size)

    def predict_inputs(self, inputs: Sequence[list[np.ndarray]], batch_size: int = 32) -> dict[str, np.ndarray]:
        """As :meth:`predict_images`, from each image's :func:`prepare_inputs` (batched by input size)."""
        out: dict[str, np.ndarray] = {}
        for batch in batches_by_key([tuple(a.shape for a in arrays) for arrays in inputs], batch_size):
            feeds = {name: np.stack([inputs[j][k] for j in batch]) for k, name in enumerate(self.input_names)}
            values = dict(zip(self.outputs, self.session.run(None, feeds), strict=True))
            if "potentials" in values:
                probabilities, _ = self.graph.predict_levels(values.pop("potentials"))
                values["probabilities"], values["levels"] = probabilities, median_levels(probabilities)
            for key, value in values.items():
                out.setdefault(key, np.zeros((len(inputs), *value.shape[1:]), dtype=value.dtype))[batch] = value
        return out

    def preparer(self, parallel: bool = False) -> Callable[[Image.Image], list[np.ndarray]]:
        """:func:`prepare_inputs` for this model's parts: picklable (the audit's workers run it), or with
        ``parallel`` its resizes on this process's threads, unless the runtime was given one thread."""
        if parallel and self.threads != 1:
            return functools.partial(prepare_inputs, parts=self.parts, pool=prepare_pool())
        return functools.partial(prepare_inputs, parts=self.parts)

    def run(self, prepared: Sequence[list[np.ndarray]]) -> list[Assessment]:
        """Assess a batch of :func:`prepare_inputs` in one call (inputs of one size share a session run)."""
        out = self.predict_inputs(prepared, max(1, len(prepared)))
        scores, probabilities, levels = out.get("score"), out.get("probabilities"), out.get("levels")
        return make_assessments(scores, probabilities, levels, self.labels, len(prepared), self.level_names)


def runtime_parts(spec: Mapping[str, Any]) -> list[Part]:
    """The encoder parts of a compiled model's spec (:func:`compile_model`)."""
    return [(part["name"], part["kind"], Preprocess(**_tuples(part["preprocess"]))) for part in spec["parts"]]


def prepare_inputs(image: Image.Image, parts: Sequence[Part], pool: Executor | None = None) -> list[np.ndarray]:
    """One decoded image as the compiled graph's inputs: for each network part its resized uint8
    ``[H, W, 3]`` pixels, for each numpy part its features ``[D]``.  Pure numpy and Pillow, so audit
    workers run it beside the decoding.  Parts that ask for the same size share one resize (a network and
    the statistics it is trained beside); with ``pool`` the resizes run on its threads (Pillow and numpy
    release the GIL), the results being the same."""
    image = image if image.mode == "RGB" else image.convert("RGB")
    groups: dict[tuple, list[int]] = {}
    for i, (_, _, p) in enumerate(parts):
        groups.setdefault((p.short_side, p.max_long_side, p.window), []).append(i)

    def prepare_group(members: list[int]) -> list[np.ndarray]:
        pixels = np.asarray(resize_image(image, parts[members[0]][2]))
        return [pixels if parts[i][1] == "onnx" else numpy_part_input(parts[i][0], pixels) for i in members]

    arrays: dict[int, np.ndarray] = {}
    run = pool.map if pool is not None else map
    for members, prepared in zip(groups.values(), run(prepare_group, groups.values()), strict=True):
        arrays.update(zip(members, prepared, strict=True))
    return [arrays[i] for i in range(len(parts))]


def numpy_part_input(name: str, pixels: np.ndarray) -> np.ndarray:
    """The features ``[D]`` of the numpy part ``name`` on one image's resized ``[H, W, 3]`` pixels."""
    return NUMPY_PARTS[name](pixels[None])[0].astype(np.float32)


_PREPARE_POOLS: dict[int, ThreadPoolExecutor] = {}


def prepare_pool() -> ThreadPoolExecutor:
    """This process's threads for :func:`prepare_inputs` (one per core; a forked child makes its own)."""
    pid = os.getpid()
    if pid not in _PREPARE_POOLS:
        _PREPARE_POOLS[pid] = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="phoneiqa-prepare")
    return _PREPARE_POOLS[pid]


def compile_model(model: Model) -> tuple[bytes, dict[str, Any]]:
    """The model as (ONNX graph, spec); raises :class:`RuntimeUnsupported` for parts it cannot run."""
    import torch

    from phoneiqa.encoders.base import part_labels

    parts = list(getattr(model.encoder, "parts", [model.encoder]))
    kinds = []
    for part in parts:
        if part.onnx_exportable:
            kinds.append("onnx")
        elif part.name in NUMPY_PARTS:
            kinds.append("numpy")
        else:
            raise RuntimeUnsupported(f"encoder part {part.name!r} has no ONNX or numpy form")
    for head in (model.score_head, model.issue_head):
        if head is not None and not head.onnx_exportable:
            raise RuntimeUnsupported(f"the {head.name!r} head has no ONNX form")
    graph_module = _compiled_heads_class()(model, parts, kinds).eval()
    example = [
        torch.zeros(1, p.preprocess.short_side, p.preprocess.short_side, 3, dtype=torch.uint8)
        if kind == "onnx"
        else torch.zeros(1, p.feature_dim)
        for p, kind in zip(parts, kinds, strict=True)
    ]
    names = graph_input_names(kinds)
    outputs = (["score"] if model.score_head is not None else []) + (
        ["potentials"] if model.issue_head is not None else []
    )
    dynamic = {
        n: ({0: "batch", 1: f"height_{n}", 2: f"width_{n}"} if n.startswith("image") else {0: "batch"}) for n in names
    }
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        _export(
            graph_module,
            tuple(example),
            buffer,
            input_names=names,
            output_names=outputs,
            dynamic_axes={**dynamic, **{o: {0: "batch"} for o in outputs}},
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=False,  # ONNX Runtime folds at load; folding here stores transposed weight copies
        )
    spec = {
        "format": FORMAT,
        "parts": [
            {"name": p.name, "label": label, "kind": k, "preprocess": p.preprocess.as_dict()}
            for p, label, k in zip(parts, part_labels(model.encoder), kinds, strict=True)
        ],
        "issue_spec": model.issue_head.config["spec"] if model.issue_head is not None else None,
    }
    return buffer.getvalue(), spec


def _export(*args: Any, **kwargs: Any) -> None:
    """``torch.onnx.export``, its failures (an operator with no ONNX form) as :class:`RuntimeUnsupported`."""
    import torch

    try:
        torch.onnx.export(*args, **kwargs)
    except Exception as exc:
        raise RuntimeUnsupported(f"cannot export to ONNX ({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc


def check_agreement(runtime: Runtime, model: Model) -> None:
    """Raise :class:`RuntimeUnsupported` unless the runtime reproduces the PyTorch model on test images."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 400 * 300 * 3).reshape(300, 400, 3)
    images = [
        Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)),
        Image.fromarray(ramp.astype(np.uint8)),
        Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)),  # a batch of two with the first
    ]
    try:
        ours = runtime.predict_images(images)
    except Exception as exc:  # e.g. a shape fixed at export time
        raise RuntimeUnsupported(f"the compiled model fails on test images: {str(exc).splitlines()[0]}") from exc
    theirs = model.predict_images(images)
    pairs = {"score": theirs.scores, "probabilities": None if theirs.issues is None else theirs.issues.probabilities}
    for key, reference in pairs.items():
        if reference is not None and not np.allclose(ours[key], reference.numpy(), rtol=TOLERANCE, atol=TOLERANCE):
            diff = float(np.abs(ours[key] - reference.numpy()).max())
            raise RuntimeUnsupported(f"the compiled model's {key} differs from PyTorch's by {diff:.2e}")


def load_runtime(checkpoint: str | os.PathLike, cache_dir: Path | None = None, threads: int | None = None) -> Runtime:
    """The runtime of a checkpoint: from the cache, or compiled (needs torch), checked and cached.

    ``threads``: ONNX Runtime's intra-op threads (default: all cores).  Raises ``ImportError`` at once,
    before compiling anything, when onnxruntime is not installed."""
    import onnxruntime  # noqa: F401

    from phoneiqa.version import __version__

    data = Path(checkpoint).read_bytes()
    key = f"{hashlib.sha256(data).hexdigest()[:20]}-{__version__}-r{FORMAT}"
    folder = (cache_dir or default_cache_dir()) / "runtime" / key
    if (folder / "spec.json").is_file() and (folder / "model.onnx").is_file():
        spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
        return Runtime(folder / "model.onnx", spec, threads)
    from phoneiqa.progress import note

    with needs_extras(f"compiling {Path(checkpoint).name} for the torch-free runtime", "train"):
        from phoneiqa.model import Model

    note(f"phoneiqa: compiling {Path(checkpoint).name} into the torch-free runtime (once, about 10 s; cached)")
    model = Model.load(checkpoint)
    onnx, spec = compile_model(model)
    try:
        runtime = Runtime(onnx, spec, threads)
    except Exception as exc:  # an operator ONNX Runtime has no kernel for: the PyTorch backend still runs it
        raise RuntimeUnsupported(f"ONNX Runtime cannot run the compiled graph: {str(exc).splitlines()[0]}") from exc
    check_agreement(runtime, model)
    store_cached(folder, {"model.onnx": onnx, "spec.json": json.dumps(spec, indent=2).encode()}, "compiled")
    return runtime


def store_cached(folder: Path, files: Mapping[str, bytes], what: str) -> None:
    """Write ``files`` (name -> bytes) into the cache ``folder``, each through a temporary file and a rename; a
    cache that cannot be written is a warning (the ``what`` model is built again next time), never an error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, payload in files.items():
            tmp = folder / f"{name}.{os.getpid()}.tmp"
            tmp.write_bytes(payload)
            tmp.replace(folder / name)
    except OSError as exc:
        warnings.warn(f"cannot cache the {what} model in {folder} ({exc}); it will be built again", stacklevel=3)


PACK_MIN_SIZE = 16384
"""Float32 initializers with at least this many values are stored outside a packed graph, as float16."""
SHARD_BYTES = 16 * 2**20


def pack_runtimes(compiled: Mapping[str, tuple[bytes, dict[str, Any]]], folder: Path) -> dict[str, Path]:
    """Write compiled models (name -> :func:`compile_model`'s graph and spec) into ``folder`` in the packed
    form the package ships: ``<name>.onnx`` holds each graph with its large weights declared external,
    ``<name>.runtime.json`` its spec and where those weights are, and ``weights-<i>.npz`` (shared by all
    the models, each under :data:`SHARD_BYTES`) every distinct large weight once, as float16.  Halving
    the weights moves scores by a few hundredths of a point (``tests/test_pretrained.py`` bounds it).
    Needs the ``onnx`` package (build time only); :func:`load_packed` reads the result without it.
    Returns the spec file of each model."""
    import onnx
    from onnx import TensorProto, numpy_helper

    shards: list[dict[str, np.ndarray]] = [{}]
    shard_of: dict[str, int] = {}  # digest of the float16 values (its key in the shard) -> shard
    out = {}
    for name, (graph_bytes, spec) in compiled.items():
        model = onnx.load_from_string(graph_bytes)
        external = {}
        for init in model.graph.initializer:
            if init.data_type != TensorProto.FLOAT or math.prod(init.dims) < PACK_MIN_SIZE:
                continue
            values = numpy_helper.to_array(init).astype(np.float16)
            digest = hashlib.sha256(values.tobytes() + str(values.shape).encode()).hexdigest()[:16]
            if digest not in shard_of:
                if sum(v.nbytes for v in shards[-1].values()) + values.nbytes > SHARD_BYTES:
                    shards.append({})
                shards[-1][digest] = values
                shard_of[digest] = len(shards) - 1
            shard = shard_of[digest]
            external[init.name] = [f"weights-{shard}.npz", digest]
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.data_location = TensorProto.EXTERNAL
            entry = init.external_data.add()
            entry.key, entry.value = "location", f"weights-{shard}.npz"
        (folder / f"{name}.onnx").write_bytes(model.SerializeToString())
        out[name] = folder / f"{name}.runtime.json"
        out[name].write_text(json.dumps({**spec, "external": external}, indent=1) + "\n", encoding="utf-8")
    for i, shard in enumerate(shards):
        np.savez(folder / f"weights-{i}.npz", **shard)
    return out


def pack_shipped(specs: Iterable[ModelSpec] | None = None) -> dict[str, Path]:
    """Compile the shipped models' checkpoints (default: all of :data:`phoneiqa.specs.SHIPPED`, which must
    share one folder) and write them together in the packed form, each to its record's
    ``files.runtime_onnx`` and ``files.runtime_spec``, replacing the shared weight shards (build time:
    needs torch and onnx).  Returns each model name's spec file."""
    from phoneiqa.model import Model
    from phoneiqa.specs import SHIPPED

    specs = list(SHIPPED.values() if specs is None else specs)
    folders = {spec.files.runtime_spec.parent for spec in specs}
    if len(folders) != 1:
        raise ValueError(f"the packed models share their weight shards: one folder, not {sorted(folders)}")
    folder = folders.pop()
    compiled = {}
    for spec in specs:
        graph, runtime_spec = compile_model(Model.load(spec.files.checkpoint))
        runtime_spec["checkpoint_sha256"] = hashlib.sha256(spec.files.checkpoint.read_bytes()).hexdigest()
        compiled[spec.files.stem] = (graph, runtime_spec)
    for old in folder.glob("weights-*.npz"):
        old.unlink()
    written = pack_runtimes(compiled, folder)
    return {spec.name: written[spec.files.stem] for spec in specs}


def load_packed(spec_file: Path, threads: int | None = None) -> Runtime:
    """A model written by :func:`pack_runtimes`: its graph, with its external weights read from the
    shards beside it (as float32; one array for the initializers that hold the same values, as two views of one
    network do).  Needs numpy and ONNX Runtime only."""
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    weights: dict[str, np.ndarray] = {}
    by_shard: dict[str, list[tuple[str, str]]] = {}
    for name, (shard, key) in spec.get("external", {}).items():
        by_shard.setdefault(shard, []).append((name, key))
    for shard, entries in by_shard.items():
        with np.load(spec_file.parent / shard) as arrays:
            values = {key: arrays[key].astype(np.float32) for key in {key for _, key in entries}}
        weights.update({name: values[key] for name, key in entries})
    return Runtime(spec_file.with_name(spec_file.name.replace(".runtime.json", ".onnx")), spec, threads, weights)


def graph_input_names(kinds: Sequence[str]) -> list[str]:
    """The graph's input names: ``image_i`` for network parts, ``features_i`` for numpy parts."""
    return [f"image_{i}" if kind == "onnx" else f"features_{i}" for i, kind in enumerate(kinds)]


def _tuples(preprocess: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples :class:`Preprocess` holds."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in preprocess.items()}


def _compiled_heads_class():
    """The export module, defined lazily because it subclasses ``torch.nn.Module``."""
    import torch
    from torch import nn

    class CompiledHeads(nn.Module):
        """Network parts' uint8 pixels and numpy parts' features in; score and node potentials out."""

        def __init__(self, model: Model, parts: list, kinds: list[str]) -> None:
            super().__init__()
            pairs = list(zip(parts, kinds, strict=True))
            self.parts = nn.ModuleList(part if kind == "onnx" else nn.Identity() for part, kind in pairs)
            self.kinds = kinds
            for i, (part, _) in enumerate(pairs):
                self.register_buffer(f"mean_{i}", torch.tensor(part.preprocess.mean).view(1, 3, 1, 1))
                self.register_buffer(f"std_{i}", torch.tensor(part.preprocess.std).view(1, 3, 1, 1))
            self.score_head, self.issue_head, self.columns = model.score_head, model.issue_head, model.columns

        def network_input(self, i: int, pixels: torch.Tensor) -> torch.Tensor:
            """uint8 ``[B, H, W, 3]`` -> the normalised ``[B, 3, H, W]`` float tensor of part i."""
            x = pixels.permute(0, 3, 1, 2).float() / 255.0
            return (x - getattr(self, f"mean_{i}")) / getattr(self, f"std_{i}")

        def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
            columns = [
                part(self.network_input(i, x)) if kind == "onnx" else x
                for i, (part, kind, x) in enumerate(zip(self.parts, self.kinds, inputs, strict=True))
            ]
            features = torch.cat(columns, dim=1)
            out = []
            for kind, head in (("score", self.score_head), ("issues", self.issue_head)):
                if head is not None:
                    start, stop = self.columns.get(kind, (0, features.shape[1]))
                    x = features[:, start:stop]
                    out.append(head.predict(x) if kind == "score" else head.potentials(x))
            return tuple(out)

    return CompiledHeads
