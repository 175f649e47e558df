"""The public ``phoneiqa.assess`` contract, on the shipped default model and real photos."""

from __future__ import annotations

import io
import json
import math
import os
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_image

import phoneiqa
from phoneiqa.cli import main, sample_photo
from phoneiqa.labels import load_graph
from phoneiqa.loading import pretrained_path
from phoneiqa.runtime import Runtime, load_runtime

pytestmark = pytest.mark.skipif(not pretrained_path("default").exists(), reason="default model not built")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Three real photos of different sizes (crops of scikit-learn's samples)."""
    china, flower = load_sample_image("china.jpg"), load_sample_image("flower.jpg")
    return [china.copy(), flower[:400, :300].copy(), china[40:360, 100:580].copy()]


@pytest.fixture(scope="module")
def model() -> phoneiqa.model.Model:
    return phoneiqa.load("default", backend="torch")


def test_assessment_fields_follow_the_contract(photos):
    a = phoneiqa.assess(photos[0])
    assert isinstance(a, phoneiqa.Assessment)
    assert isinstance(a.score, float) and 0.0 <= a.score <= 100.0
    assert tuple(a.issues) == phoneiqa.LABELS == tuple(a.probabilities)
    for key, probs in a.probabilities.items():
        assert len(probs) == len(a.level_names[key])
        assert math.isclose(sum(probs), 1.0, abs_tol=1e-5)
        assert all(p >= 0 for p in probs)
        assert a.issues[key] in range(4)
    graph = load_graph("smartphone6")
    assert graph.is_legal(graph.encode_levels(torch.tensor([list(a.issues.values())])))[0]
    as_json = json.loads(json.dumps(a.to_dict()))
    assert as_json == {"score": a.score, "issues": a.issues, "probabilities": a.probabilities}


def test_every_input_type_gives_the_same_result(tmp_path, photos):
    pixels = photos[1]
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    inputs = {
        "str": str(path),
        "path": path,
        "bytes": path.read_bytes(),
        "file": io.BytesIO(path.read_bytes()),
        "pil": Image.fromarray(pixels),
        "uint8": pixels,
        "uint16": pixels.astype(np.uint16) * 257,
        "float": pixels / 255.0,
        "tensor": torch.from_numpy(pixels).permute(2, 0, 1),
        "float tensor": torch.from_numpy(pixels).permute(2, 0, 1).float() / 255,
    }
    reference = phoneiqa.assess(pixels)
    for kind, image in inputs.items():
        result = phoneiqa.assess(image)
        assert result.issues == reference.issues, kind
        assert result.score == pytest.approx(reference.score, abs=1e-3), kind


def test_a_list_gives_results_in_order_equal_to_single_calls(model, photos):
    singles = [model.assess(p) for p in photos]
    batch = model.assess(photos, batch_size=2)
    assert isinstance(batch, list) and len(batch) == len(photos)
    for one, many in zip(singles, batch, strict=True):
        assert many.score == pytest.approx(one.score, abs=1e-4)
        assert many.issues == one.issues
    assert model.assess([]) == []


def test_exif_rotated_photo_scores_like_the_upright_pixels(model, tmp_path, photos):
    upright = Image.fromarray(photos[0])
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": stored pixels are the upright ones turned back
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    path = tmp_path / "rotated.png"
    stored.save(path, exif=exif)
    a, b = model.assess(path), model.assess(upright)
    assert a.score == pytest.approx(b.score, abs=1e-4)
    assert a.issues == b.issues
    assert model.assess(stored).score != pytest.approx(b.score, abs=1e-4)  # the tag mattered


def test_repeated_calls_are_bit_identical(model, photos):
    first = [model.assess(p).to_dict() for p in photos]
    assert [model.assess(p).to_dict() for p in photos] == first


def test_threads_get_the_results_of_a_single_thread(photos):
    jobs = photos * 3
    expected = [phoneiqa.assess(p).to_dict() for p in jobs]
    got: list[dict | None] = [None] * len(jobs)

    def work(i: int) -> None:
        got[i] = phoneiqa.assess(jobs[i]).to_dict()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, e in zip(got, expected, strict=True):
        assert g["issues"] == e["issues"]
        assert g["score"] == pytest.approx(e["score"], abs=1e-4)


def test_compiled_runtime_agrees_with_pytorch(model, photos, tmp_path):
    """The torch-free runtime (ONNX Runtime + numpy) reproduces the PyTorch model to 1e-4."""
    pytest.importorskip("onnxruntime")
    runtime = load_runtime(pretrained_path("default"), cache_dir=tmp_path)
    assert isinstance(runtime, Runtime)
    images = [Image.fromarray(p) for p in photos]
    ours, theirs = runtime.predict_images(images), model.predict_images(images)
    np.testing.assert_allclose(ours["score"], theirs.scores.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours["probabilities"], theirs.issues.probabilities.numpy(), atol=1e-4)
    for a, b in zip(model.assess(photos), runtime.assess(photos), strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-3)
        assert a.issues == b.issues
    assert (tmp_path / "runtime").is_dir()  # compiled once, cached for the next process


def test_shipped_model_assesses_without_compiling_or_importing_torch(model, tmp_path):
    """A fresh process with an empty cache assesses a photo with numpy, Pillow and ONNX Runtime only: the
    shipped model is precompiled (nothing is written to the cache), neither torch nor pandas is imported."""
    pytest.importorskip("onnxruntime")
    code = (
        f"import sys, phoneiqa; a = phoneiqa.assess({sample_photo()!r}); "
        "print(type(phoneiqa.load()).__name__, {'torch', 'pandas'} & set(sys.modules) == set(), a.score)"
    )
    env = {**os.environ, "PHONEIQA_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    kind, lean, score = out.stdout.split()
    assert (kind, lean) == ("Runtime", "True") and not any(tmp_path.iterdir())
    assert float(score) == pytest.approx(model.assess(sample_photo()).score, abs=0.05)  # float16 weights


def test_default_model_loads_and_runs_without_network(monkeypatch, photos):
    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    result = phoneiqa.load("default", backend="torch").assess(photos[2])
    assert 0.0 <= result.score <= 100.0


def test_bad_inputs_raise_image_error_naming_the_input(model, tmp_path, photos):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(phoneiqa.ImageError, match=r"broken\.jpg"):
        model.assess(broken)
    with pytest.raises(phoneiqa.ImageError, match="input 1"):
        model.assess([photos[0], b"garbage bytes"])
    with pytest.raises(FileNotFoundError, match="neither a shipped model"):
        phoneiqa.load("no-such-model")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_errors_return_keeps_the_good_photos_of_a_list(backend, tmp_path, photos):
    model = phoneiqa.load("default", backend=backend)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    inputs = [photos[0], broken, photos[1], b"garbage bytes", photos[2]]
    results = model.assess(inputs, batch_size=2, errors="return")
    assert isinstance(results[1], phoneiqa.ImageError) and "broken.jpg" in str(results[1])
    assert isinstance(results[3], phoneiqa.ImageError) and "input 3" in str(results[3])
    expected = model.assess([photos[0], photos[1], photos[2]])
    assert [results[i].score for i in (0, 2, 4)] == pytest.approx([a.score for a in expected], abs=1e-4)
    with pytest.raises(phoneiqa.ImageError):
        model.assess(broken, errors="return")  # a single input has no slot to put the error in
    with pytest.raises(ValueError, match="errors must be one of raise, return"):
        model.assess(inputs, errors="skip")


def test_cli_assess_table_json_and_failures(tmp_path, capsys):
    assert main(["assess", "--sample"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["file", "score", *phoneiqa.LABELS]
    assert table[1].startswith(sample_photo())

    broken = tmp_path / "empty.jpg"
    broken.write_bytes(b"")
    assert main(["assess", str(broken), "--sample", "--json", "--backend", "torch"]) == 1
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert lines[0]["file"] == str(broken) and "empty" in lines[0]["error"]
    assert lines[1]["file"] == sample_photo() and set(lines[1]["issues"]) == set(phoneiqa.LABELS)
    assert lines[1]["score"] == pytest.approx(phoneiqa.assess(sample_photo()).score, abs=0.05)  # float16 packed weights


def test_api_functions_are_not_shadowed_by_their_modules():
    """Importing a submodule sets it as an attribute of the package: the API names must survive that."""
    code = (
        "import phoneiqa, phoneiqa.assess, phoneiqa.audit, phoneiqa.rank, phoneiqa.training\n"
        "from phoneiqa.audit import audit\n"
        "print(all(callable(getattr(phoneiqa, n)) for n in ('assess', 'audit', 'rank', 'train', 'load')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_every_listed_model_loads_and_names_its_encoder(capsys):
    models = phoneiqa.list_models()
    assert {"default", "fast", "accurate"} <= set(models)
    for name in models:
        assert pretrained_path(name).is_file(), name
    assert pretrained_path("default") == pretrained_path("fast")
    accurate = phoneiqa.load("accurate", backend="torch")
    assert accurate.encoder.labels == ["effnet-lite0", "photometric", "effnet-lite0:window"]
    assert [part.preprocess.window for part in accurate.encoder.parts] == [None, None, 320]
    fast = phoneiqa.load("fast", backend="torch")
    assert [part.preprocess.window for part in fast.encoder.parts] == [None, None, 256]
    assert accurate.issue_head.graph.names == fast.issue_head.graph.names
    assert main(["models"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(models)
    with pytest.raises(phoneiqa.ModelNotFoundError, match="shipped models: default, fast, accurate"):
        pretrained_path("medium")


def test_cli_assess_points_a_folder_to_the_audit(tmp_path, capsys):
    assert main(["assess", str(tmp_path), "--sample"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f"error: {tmp_path}: a folder; `phoneiqa audit {tmp_path}` assesses the photos in it"
    assert sample_photo() in captured.out


def test_cli_errors_are_one_line(tmp_path, capsys):
    """A missing model and a config typo: exit code 2 and one line naming the problem, no traceback."""
    assert main(["assess", "--model", str(tmp_path / "nosuch.pt"), sample_photo()]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("phoneiqa assess: error: ") and "nosuch.pt" in err[0]
    assert isinstance(phoneiqa.ModelNotFoundError("x"), FileNotFoundError)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"data": {"train": [{"csv": "labels.csv"}]}, "optim": {"epoch": 3}}))
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"phoneiqa train: error: {config}: unknown key 'epoch' in optim (did you mean 'epochs'?)"]
    labels = tmp_path / "labels.csv"
    labels.write_text("filename,mos\na.jpg,50\n")
    assert main(["train", "--csv", str(labels), "--score-head", "ridgee", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown head 'ridgee' (did you mean 'ridge'?); registered: " in err[0]


def test_without_onnxruntime_the_default_backend_falls_back_to_pytorch(monkeypatch):
    compiled = phoneiqa.load("default", backend="onnx").assess(sample_photo())
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an uninstalled module looks like to import
    with pytest.warns(UserWarning, match="running in PyTorch, onnxruntime is not installed"):
        model = phoneiqa.load("default")
    assert isinstance(model, phoneiqa.model.Model)
    assert model.assess(sample_photo()).score == pytest.approx(compiled.score, abs=0.05)  # float16 packed weights
    with pytest.raises(ImportError, match="needs onnxruntime"):
        phoneiqa.load("default", backend="onnx")


def test_compiling_says_so_on_a_terminal(tmp_path, monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    load_runtime(pretrained_path("default"), cache_dir=tmp_path)  # compiles: nothing cached there
    load_runtime(pretrained_path("default"), cache_dir=tmp_path)  # from the cache: quiet
    assert terminal.getvalue().count("compiling default.pt into the torch-free runtime") == 1


def test_from_dict_inverts_to_dict_over_generated_and_explained_assessments():
    """A property over generated assessments (JSON in between, as the result cache and Ray keep them), and a
    real explained one, whose exposure shares survive although its maps do not."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        labels = list(phoneiqa.LABELS)[: rng.integers(1, len(phoneiqa.LABELS) + 1)]
        probabilities = {k: rng.dirichlet(np.ones(4)).tolist() for k in labels}
        original = phoneiqa.Assessment(
            score=None if trial % 7 == 0 else float(rng.uniform(0, 100)),
            issues={k: int(rng.integers(0, 4)) for k in labels},
            probabilities=probabilities,
            exposure_shares=None if trial % 2 else {m: float(rng.uniform()) for m in ("too_dark", "too_bright")},
        )
        data = json.loads(json.dumps(original.to_dict()))
        back = phoneiqa.Assessment.from_dict(data)
        assert back == original and back.exposure_shares == original.exposure_shares  # shares: not in ==
        assert back.to_dict() == data
    explained = phoneiqa.assess(sample_photo(), explain=True)
    back = phoneiqa.Assessment.from_dict(json.loads(json.dumps(explained.to_dict())))
    assert back == explained and back.exposure_shares == explained.explanation.shares and back.explanation is None
    with pytest.raises(phoneiqa.DataFormatError, match="unknown assessment key"):
        phoneiqa.Assessment.from_dict({**explained.to_dict(), "scor": 1})
    with pytest.raises(phoneiqa.DataFormatError, match="needs probabilities"):
        phoneiqa.Assessment.from_dict({"score": 1.0, "issues": {}})


def test_a_runtime_cache_that_cannot_be_written_is_a_warning_and_a_written_one_holds_every_file(tmp_path):
    from phoneiqa.runtime import store_cached

    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="cannot cache the int8 model in .*a file/sub"):
        store_cached(blocker / "sub", {"model.onnx": b"graph"}, "int8")
    store_cached(tmp_path / "cache", {"model.onnx": b"graph", "spec.json": b"{}"}, "compiled")
    assert {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()} == {
        "model.onnx": b"graph",
        "spec.json": b"{}",
    }


def test_the_two_views_are_the_whole_photo_and_its_centre_and_threads_prepare_the_same_inputs(photos):
    """The shipped runtime's inputs: each network view is the photo resized (and cut) as its part says, the
    statistics those of their own resize; preparing on threads gives the same arrays as preparing serially."""
    pytest.importorskip("onnxruntime")
    from phoneiqa.photometric import photometric_features
    from phoneiqa.preprocess import resize_image

    runtime = phoneiqa.load("fast")
    image = Image.fromarray(photos[0])  # 640×427
    serial, threaded = runtime.preparer()(image), runtime.preparer(parallel=True)(image)
    views = [p for _, kind, p in runtime.parts if kind == "onnx"]
    assert [(p.short_side, p.window) for p in views] == [(288, None), (500, 256)]
    assert [a.shape for a, (_, kind, _) in zip(serial, runtime.parts, strict=True) if kind == "onnx"] == [
        (288, 432, 3),
        (256, 256, 3),
    ]
    for array, again, (_, kind, p) in zip(serial, threaded, runtime.parts, strict=True):
        assert np.array_equal(array, again)
        pixels = np.asarray(resize_image(image, p))
        expected = pixels if kind == "onnx" else photometric_features(pixels[None])[0]
        np.testing.assert_allclose(array, expected, rtol=1e-6)
    threads, single = runtime.assess(image), phoneiqa.load("fast", threads=1).assess(image)
    assert threads.issues == single.issues and threads.score == pytest.approx(single.score, abs=1e-3)


def test_a_forked_child_assesses_after_its_parent_prepared_on_threads():
    """The preparation threads belong to the process that made them: a child forked afterwards makes its own."""
    pytest.importorskip("onnxruntime")
    code = (
        "import multiprocessing as mp, phoneiqa\n"
        "from phoneiqa.cli import sample_photo\n"
        "model = phoneiqa.load('fast'); parent = model.assess(sample_photo()).score\n"
        "def child(q): q.put(model.assess(sample_photo()).score)\n"
        "ctx = mp.get_context('fork'); q = ctx.Queue(); p = ctx.Process(target=child, args=(q,)); p.start()\n"
        "print(parent == q.get(timeout=120)); p.join(60); print(p.exitcode)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["True", "0"]
