"""The audit on Ray Data gives the local audit's table, row for row."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from phoneiqa.audit import audit
from phoneiqa.audit.ray import audit_ray

if os.environ.get("CI") == "true":  # CI installs the extra: a missing Ray is a failure there, not a skip
    import ray
    import ray.data
else:
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")

# Ray Data 2.60 warns about its own deprecated settings whenever it copies its DataContext.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


@pytest.fixture(scope="module")
def ray_session():
    """A small local Ray instance; its workers get this session's ``PHONEIQA_CACHE`` (compiled model)."""
    ray.init(
        address="local",  # never a cluster named by RAY_ADDRESS
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 1024**2,
        log_to_driver=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PHONEIQA_CACHE": os.environ["PHONEIQA_CACHE"]}},
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    """Six small distinct photos (one in a subfolder) and four bad files: (folder, good names, bad names)."""
    folder = tmp_path_factory.mktemp("library")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:96].astype(np.float32)
    good = ["bright.jpg", "dark.png", "flat.jpg", "noise.jpg", "ramp.png", "sub/stripes.jpg"]
    for i, name in enumerate(good):
        gradient = (x / 95 * (i + 1) * 40 + y / 63 * 60) % 256
        pixels = np.stack([gradient, np.roll(gradient, 7 * i, axis=1), 255 - gradient], axis=-1)
        pixels = pixels * (0.3 + 0.25 * i) + rng.normal(0, 4 + 6 * i, pixels.shape)
        path = folder / name
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "random.png").write_bytes(rng.bytes(3000))
    (folder / "truncated.jpg").write_bytes((folder / "noise.jpg").read_bytes()[:600])
    (folder / "x.jpg").mkdir()
    return folder, good, ["empty.jpg", "random.png", "truncated.jpg", "x.jpg"]


def test_ray_audit_gives_the_local_audit_table(ray_session, library):
    folder, good, bad = library
    paths = [folder, folder / "missing.jpg"]
    local = audit(paths, workers=0, cache=False, probabilities=True).to_pandas()
    on_ray = audit_ray(paths, probabilities=True, concurrency=1, batch_size=4).to_pandas()
    expected = sorted([*(str(folder / name) for name in good + bad), str(paths[1])])
    assert on_ray["path"].tolist() == local["path"].tolist() == expected
    assert on_ray.dtypes.to_dict() == local.dtypes.to_dict()
    assert on_ray["error"].tolist() == local["error"].tolist()
    assert (local.set_index("path").loc[[str(folder / n) for n in good], "error"] == "").all()
    assert (local.set_index("path").loc[[str(folder / n) for n in bad], "error"] != "").all()
    pd.testing.assert_frame_equal(on_ray, local, check_exact=False, atol=1e-5, rtol=0)
    assert on_ray.attrs["assessed"] == len(good) and on_ray.attrs["failed"] == len(bad) + 1


def test_ray_audit_thumbnails_and_relative_paths(ray_session, library, monkeypatch):
    folder, good, bad = library
    monkeypatch.chdir(folder.parent)  # a relative path: rows keep it as given, Ray reads the absolute one
    table = audit_ray(folder.name, thumbnails=True, concurrency=1, batch_size=4).to_pandas()
    assert table["path"].tolist() == sorted(os.path.join(folder.name, n) for n in good + bad)
    assert table["thumbnail"].dtype == object
    for row in table.itertuples():
        if Path(row.path).name in bad:
            assert row.error and row.thumbnail is None
        else:
            assert row.error == "" and isinstance(row.thumbnail, bytes)
            with Image.open(io.BytesIO(row.thumbnail)) as thumb:
                assert thumb.format == "JPEG" and thumb.size == (96, 64)


def test_ray_audit_refuses_more_replicas_than_the_cluster_can_run_beside_its_reads(ray_session, library):
    folder, _, _ = library
    with pytest.raises(ValueError, match="at most 1, not 2"):  # two actors on two CPUs: Ray Data would wait forever
        audit_ray(folder, concurrency=2)
