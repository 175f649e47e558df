"""Encoders: registry, preprocessing, EfficientNet-Lite weights, photometric statistics, CLIP."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps
from sklearn.datasets import load_sample_image

from phoneiqa.encoders import ENCODERS, create_encoder, list_encoders
from phoneiqa.encoders.base import ConcatEncoder, Encoder, batched_forward, image_to_tensor
from phoneiqa.encoders.effnet import grid_pool, lite_weights_path, remap_lite_state_dict
from phoneiqa.errors import DataFormatError
from phoneiqa.photometric import FEATURE_NAMES
from phoneiqa.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess, batches_by_key, output_size, resize_image

BUILTIN = ["clip", "effnet-lite0", "effnet-lite1", "effnet-lite2", "exposure", "photometric", "slic"]


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [Image.fromarray(load_sample_image(name)) for name in ("china.jpg", "flower.jpg")]


@pytest.fixture(scope="module")
def lite0() -> Encoder:
    return create_encoder("effnet-lite0", short_side=128)


@pytest.fixture(scope="module")
def photometric() -> Encoder:
    return create_encoder("photometric")


class Corner(Encoder):
    """Test encoder: the top-left pixel and the tensor's height and width."""

    name = "corner"
    feature_dim = 5

    def __init__(self, short_side: int = 8, flip: bool = False) -> None:
        super().__init__()
        self.preprocess = Preprocess(short_side, None, flip=flip, mean=(0, 0, 0), std=(1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = torch.tensor(x.shape[2:], dtype=x.dtype).expand(len(x), 2)
        return torch.cat([x[:, :, 0, 0], size], dim=1)


# ---------------------------------------------------------------- registry


def test_builtin_names():
    assert list_encoders() == BUILTIN


def test_unknown_name_lists_the_registered_ones():
    message = "unknown encoder 'effnet-lite9' (did you mean 'effnet-lite2'?); registered: clip, effnet-lite0, "
    with pytest.raises(ValueError, match=re.escape(message)):
        create_encoder("effnet-lite9")


def test_heavy_dependencies_load_in_factories_only():
    code = "import sys, phoneiqa.encoders; print(sorted({'timm', 'open_clip'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_third_party_encoder_via_entry_point(tmp_path, monkeypatch):
    (tmp_path / "thirdparty_enc.py").write_text("def make(**kwargs):\n    return 'built'\n")
    dist = tmp_path / "thirdparty_enc-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-enc\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[phoneiqa.encoders]\nthirdparty = thirdparty_enc:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(ENCODERS, "_factories", dict(ENCODERS._factories))
    monkeypatch.setattr(ENCODERS, "_entry_points_loaded", False)
    assert list_encoders() == sorted([*BUILTIN, "thirdparty"])
    assert create_encoder("thirdparty") == "built"


def test_registered_encoder_joins_concatenations(monkeypatch, photos):
    monkeypatch.setattr(ENCODERS, "_factories", dict(ENCODERS._factories))
    ENCODERS.register("corner")(Corner)
    assert "corner" in list_encoders()
    both = create_encoder("corner+photometric", corner={"short_side": 16})
    assert isinstance(both, ConcatEncoder) and both.name == "corner+photometric"
    corner, stats = Corner(16), create_encoder("photometric")
    assert both.encoder_id() == f"{corner.encoder_id()}+{stats.encoder_id()}"
    assert torch.equal(both.encode(photos), torch.cat([corner.encode(photos), stats.encode(photos)], dim=1))
    with pytest.raises(ValueError, match="named after its parts"):
        create_encoder("corner+photometric", short_side=16)


def test_a_labelled_part_is_a_second_view_of_one_encoder(photos):
    """``name:view`` builds the encoder ``name`` again under its own label and keyword arguments; the features
    are those of the two encoders built separately, and an unlabelled repeat is refused."""
    both = create_encoder("photometric+photometric:small", **{"photometric:small": {"short_side": 48}})
    assert both.labels == ["photometric", "photometric:small"] and both.name == "photometric+photometric:small"
    assert [part.name for part in both.parts] == ["photometric", "photometric"]
    whole, small = create_encoder("photometric"), create_encoder("photometric", short_side=48)
    assert both.encoder_id() == f"{whole.encoder_id()}+{small.encoder_id()}"
    assert torch.equal(both.encode(photos), torch.cat([whole.encode(photos), small.encode(photos)], dim=1))
    assert not torch.equal(whole.encode(photos), small.encode(photos))
    assert create_encoder("photometric:small", short_side=48).encoder_id() == small.encoder_id()
    with pytest.raises(ValueError, match="twice"):
        create_encoder("photometric+photometric")
    with pytest.raises(ValueError, match="distinct label"):
        ConcatEncoder([whole, small], ["photometric", "photometric"])


# ---------------------------------------------------------------- preprocessing


@pytest.mark.parametrize(
    ("size", "p", "expected"),
    [
        ((500, 375), Preprocess(384, 768), (512, 384)),  # short side to 384
        ((375, 500), Preprocess(384, 768), (384, 512)),
        ((4000, 1000), Preprocess(384, 768), (768, 192)),  # long side capped
        ((100, 50), Preprocess(384, 768), (768, 384)),  # small images are upscaled
        ((640, 427), Preprocess(224, None, window=224), (224, 224)),  # the centred square
        ((1000, 750), Preprocess(500, 1000, window=320), (320, 320)),  # a window at the short side 500 scale
        ((400, 300), Preprocess(200, None, window=240), (240, 200)),  # a window larger than the image's side
    ],
)
def test_output_size(size, p, expected):
    assert output_size(*size, p) == expected
    assert resize_image(Image.new("RGB", size), p).size == expected


def test_invalid_preprocess():
    with pytest.raises(ValueError, match="max_long_side"):
        Preprocess(384, 256)
    with pytest.raises(ValueError, match="window"):
        Preprocess(384, 768, window=0)


def test_normalisation_and_grey_input():
    p = Preprocess(4, None)
    x = image_to_tensor(Image.new("RGB", (6, 4), (255, 0, 51)), p)
    expected = [(v - m) / s for v, m, s in zip((1.0, 0.0, 0.2), IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert x.shape == (3, 4, 6)
    assert torch.allclose(x, torch.tensor(expected).view(3, 1, 1).expand(3, 4, 6), atol=1e-6)
    grey = image_to_tensor(Image.new("L", (4, 4), 128), Preprocess(4, None, mean=(0, 0, 0), std=(1, 1, 1)))
    assert torch.equal(grey, torch.full((3, 4, 4), 128 / 255))


def test_square_window_keeps_the_centre():
    bands = np.zeros((100, 300, 3), np.uint8)
    bands[:, :100, 0] = bands[:, 100:200, 1] = bands[:, 200:, 2] = 255  # red | green | blue
    x = image_to_tensor(Image.fromarray(bands), Preprocess(100, None, window=100, mean=(0, 0, 0), std=(1, 1, 1)))
    assert torch.equal(x, torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1).expand(3, 100, 100))


def test_window_is_the_centre_of_the_resized_image():
    """Cutting the window from the decoded photo (one resize of its box) gives the pixels of resizing the whole
    photo first and cutting its centre, up to the resampling at the window's edges."""
    photo = Image.fromarray(load_sample_image("china.jpg"))  # 640×427
    p = Preprocess(300, None, window=160)
    window = np.asarray(resize_image(photo, p), dtype=np.float32)
    whole = photo.resize((450, 300), Image.Resampling.BICUBIC)  # short side 427 -> 300
    left, top = (450 - 160) // 2, (300 - 160) // 2
    reference = np.asarray(whole.crop((left, top, left + 160, top + 160)), dtype=np.float32)
    assert window.shape == (160, 160, 3)
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(window[inner] - reference[inner]).mean() < 1.5


def test_batches_group_equal_keys_in_order_of_first_appearance():
    assert batches_by_key(["a", "b", "a", "a", "b", "a"], 2) == [[0, 2], [3, 5], [1, 4]]
    assert batches_by_key([], 4) == []


def test_batched_forward_keeps_order_across_sizes_and_batches():
    rng = np.random.default_rng(0)
    sizes = [(8, 8), (16, 8), (8, 8), (8, 24), (16, 8), (8, 8)]
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
    encoder = Corner()
    out = batched_forward(encoder, images, batch_size=2)
    for row, image, (w, h) in zip(out, images, sizes, strict=True):
        corner = torch.tensor(image.getpixel((0, 0)), dtype=torch.float32) / 255
        assert torch.equal(row, torch.cat([corner, torch.tensor([8.0 * h / min(w, h), 8.0 * w / min(w, h)])]))
    assert torch.equal(out, batched_forward(encoder, images, batch_size=16))
    assert batched_forward(encoder, []).shape == (0, 5)


def test_flip_averages_image_and_mirror():
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[0, 0], pixels[0, 7] = (200, 0, 0), (0, 100, 50)
    out = Corner(flip=True).encode([Image.fromarray(pixels)])
    expected = (torch.tensor([200.0, 0, 0]) + torch.tensor([0.0, 100, 50])) / 255 / 2
    assert torch.allclose(out[0, :3], expected)


# ---------------------------------------------------------------- EfficientNet-Lite


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_lite_weights_map_onto_every_timm_tensor(variant):
    import timm

    net = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    state = torch.load(lite_weights_path(variant), map_location="cpu", weights_only=True)
    mapped = remap_lite_state_dict(state, [len(stage) for stage in net.blocks])
    assert len(mapped) == len(state)
    assert {k: v.shape for k, v in mapped.items()} == {k: v.shape for k, v in net.state_dict().items()}
    with pytest.raises(DataFormatError, match=re.escape("_blocks.0._se_reduce.weight")):
        remap_lite_state_dict({**state, "_blocks.0._se_reduce.weight": torch.zeros(1)}, [len(s) for s in net.blocks])


@pytest.mark.parametrize(("variant", "size"), [(0, 224), (1, 240), (2, 260)])
def test_lite_imagenet_classifier_recognises_sample_photos(variant, size, photos):
    from timm.data import ImageNetInfo

    encoder = create_encoder(f"effnet-lite{variant}")
    p = Preprocess(size, None, mean=encoder.preprocess.mean, std=encoder.preprocess.std)
    info = ImageNetInfo()
    top5 = []
    for photo in photos:
        with torch.no_grad():
            logits = encoder.net(image_to_tensor(photo, p)[None])[0]
        top5.append({info.index_to_description(int(i)).split(",")[0] for i in logits.topk(5).indices})
    china, flower = top5
    buildings = {"palace", "bell cote", "monastery", "castle", "boathouse", "lakeside", "church", "dome"}
    assert "palace" in china and china <= buildings
    assert flower & {"daisy", "bee"} and not flower & china


def test_lite_weights_expect_inputs_scaled_to_plus_minus_one(photos):
    """The stem convolution's output variance matches the first BatchNorm's statistics only with mean = std = 0.5."""
    state = torch.load(lite_weights_path(0), map_location="cpu", weights_only=True)
    running_var = state["_bn0.running_var"]
    live = running_var > 1e-3

    def variance_ratio(mean, std) -> float:
        x = torch.stack([image_to_tensor(im, Preprocess(224, None, window=224, mean=mean, std=std)) for im in photos])
        y = F.conv2d(x, state["_conv_stem.weight"], stride=2, padding=1)
        return float((y.var((0, 2, 3))[live] / running_var[live]).log().mean().exp())

    assert 0.7 < variance_ratio((0.5,) * 3, (0.5,) * 3) < 1.5
    assert variance_ratio(IMAGENET_MEAN, IMAGENET_STD) > 3


def test_lite_features(lite0, photos):
    out = lite0.encode(photos)
    assert out.shape == (2, lite0.feature_dim) == (2, 2 * (16 + 24 + 40 + 80 + 112 + 192 + 320))
    assert torch.isfinite(out).all() and (out[:, -320:] >= 0).all()  # the last block is stage 6's std
    assert torch.equal(out, lite0.encode(photos))
    assert lite0.encoder_id() == "effnet-lite0|efficientnet-lite0-57934424.pth|s128|l768|c0|f0|stages0123456"
    last = create_encoder("effnet-lite0", short_side=128, stages=(6,))
    assert last.feature_dim == 640 and last.encoder_id() != lite0.encoder_id()
    assert torch.allclose(last.encode(photos), out[:, -640:], atol=1e-5)
    head = create_encoder("effnet-lite0", short_side=128, stages=(7,)).encode(photos)
    assert head.shape == (2, 2560) and (head[:, :1280] >= 0).all() and (head[:, :1280] <= 6).all()  # ReLU6 means


def test_lite_grid_maps_pool_each_stage_to_cells(lite0, photos):
    """One cell per map is the spatial mean (the statistics' mean columns); 2×2 cells average to it; the
    layout names the maps' shapes in feature order."""
    stats = create_encoder("effnet-lite0", short_side=128, stages=(5, 6)).encode(photos)
    means = torch.cat([stats[:, :192], stats[:, 384:704]], dim=1)
    one = create_encoder("effnet-lite0", short_side=128, stages=(5, 6), grid=1)
    assert one.layout() == [(192, 1, 1), (320, 1, 1)] and one.feature_dim == 512
    assert torch.allclose(one.encode(photos), means, atol=1e-5)
    two = create_encoder("effnet-lite0", short_side=128, stages=(6,), grid=2)
    cells = two.encode(photos).view(2, 320, 2, 2)
    # the sample photos give stride-32 maps of even height and width: equal cells, which average to the mean
    assert torch.allclose(cells.mean((2, 3)), means[:, 192:], atol=1e-5)
    assert two.encoder_id().endswith("|stages6|grid2")
    both = create_encoder("effnet-lite0+photometric", **{"effnet-lite0": {"grid": 3, "stages": (6,)}})
    assert both.layout() == [(320, 3, 3), (56,)] and both.feature_dim == 320 * 9 + 56
    with pytest.raises(ValueError, match="grid"):
        create_encoder("effnet-lite0", grid=0)


@pytest.mark.parametrize("height, width, cells", [(9, 12, 7), (10, 14, 7), (7, 7, 7), (13, 5, 3), (3, 3, 7)])
def test_grid_pool_is_adaptive_average_pooling(height, width, cells):
    x = torch.randn(2, 5, height, width, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(grid_pool(x, cells), F.adaptive_avg_pool2d(x, cells), atol=1e-6)


def test_lite_stage_validation():
    with pytest.raises(ValueError, match="stages"):
        create_encoder("effnet-lite0", stages=(8,))


def test_lite_flip_is_the_mean_over_the_mirror_image(lite0, photos):
    flipped = create_encoder("effnet-lite0", short_side=128, flip=True)
    mirrored = [ImageOps.mirror(photo) for photo in photos]
    assert torch.allclose(flipped.encode(photos), 0.5 * (lite0.encode(photos) + lite0.encode(mirrored)), atol=1e-5)
    assert not torch.allclose(flipped.encode(photos), lite0.encode(photos), atol=1e-3)


def test_lite_stays_frozen_in_eval_mode(lite0):
    lite0.train()
    assert not lite0.training and not any(m.training for m in lite0.modules())
    assert not any(p.requires_grad for p in lite0.parameters())


# ---------------------------------------------------------------- photometric


def features(encoder: Encoder, image: Image.Image) -> dict[str, float]:
    return dict(zip(encoder.feature_names, encoder.encode([image])[0].tolist(), strict=True))


def srgb_lightness(pixels: np.ndarray) -> np.ndarray:
    """CIE L*/100 of 8-bit sRGB pixels, written out independently of the encoder."""
    c = pixels.astype(np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    f = np.where(y > (6 / 29) ** 3, np.cbrt(y), y / (3 * (6 / 29) ** 2) + 4 / 29)
    return (116 * f - 16) / 100


def test_photometric_names(photometric):
    assert photometric.feature_dim == len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert photometric.encode([Image.new("RGB", (40, 30))]).shape == (1, len(FEATURE_NAMES))


def test_photometric_flat_images(photometric):
    white = features(photometric, Image.new("RGB", (300, 200), (255, 255, 255)))
    assert all(white[f"clip_hi_{c}"] == 1 and white[f"clip_lo_{c}"] == 0 for c in ("r", "g", "b", "lum"))
    assert white["lum_mean"] == pytest.approx(1) and white["lum_hist_15"] == 1 and white["lum_std"] == 0
    black = features(photometric, Image.new("RGB", (300, 200)))
    assert all(black[f"clip_lo_{c}"] == 1 and black[f"clip_hi_{c}"] == 0 for c in ("r", "g", "b", "lum"))
    grey = features(photometric, Image.new("RGB", (300, 200), (128, 128, 128)))
    assert grey["lum_mean"] == pytest.approx(0.53585, abs=1e-4)  # L* of sRGB grey 128 is 53.585
    assert grey["lum_p50"] == pytest.approx(0.53585, abs=1 / 1024)
    assert grey["sat_mean"] == 0 and grey["colourfulness"] == pytest.approx(0, abs=1e-7)


def test_photometric_matches_independent_computation(photometric, photos):
    photo = photos[0]
    got = features(photometric, photo)
    pixels = np.asarray(resize_image(photo, photometric.preprocess))
    lum = srgb_lightness(pixels)
    assert got["lum_mean"] == pytest.approx(lum.mean(), abs=1e-5)
    assert got["lum_std"] == pytest.approx(lum.std(), abs=1e-5)
    for q in (1, 25, 50, 90, 99):
        assert got[f"lum_p{q:02d}"] == pytest.approx(np.percentile(lum, q), abs=1.5 / 1024)
    assert got["clip_hi_b"] == pytest.approx((pixels[..., 2] >= 250).mean(), abs=1e-7)
    assert got["clip_lo_r"] == pytest.approx((pixels[..., 0] <= 5).mean(), abs=1e-7)
    hist = np.histogram(lum, bins=16, range=(0, 1))[0] / lum.size
    assert np.allclose([got[f"lum_hist_{k:02d}"] for k in range(16)], hist, atol=1e-3)
    rgb = pixels.astype(np.float64) / 255
    sat = np.where(rgb.max(-1) > 0, np.ptp(rgb, -1) / np.maximum(rgb.max(-1), 1e-12), 0)
    assert got["sat_mean"] == pytest.approx(sat.mean(), abs=1e-5)


def test_photometric_responds_to_exposure_and_contrast(photometric, photos):
    photo = photos[0]
    base = features(photometric, photo)
    darker = features(photometric, ImageEnhance.Brightness(photo).enhance(0.5))
    assert darker["lum_mean"] < base["lum_mean"] - 0.1 and darker["lum_key"] < base["lum_key"]
    assert darker["clip_hi_lum"] < base["clip_hi_lum"] and darker["clip_lo_lum"] >= base["clip_lo_lum"]
    flat = features(photometric, ImageEnhance.Contrast(photo).enhance(0.5))
    for name in ("lum_std", "lum_spread_p05_p95", "local_mean_std", "local_std_mean", "grad_mean"):
        assert flat[name] < base[name]
    steep = features(photometric, ImageEnhance.Contrast(photos[1]).enhance(1.5))
    assert steep["lum_std"] > features(photometric, photos[1])["lum_std"]


def test_photometric_sees_compressed_highlights(photometric, photos):
    photo = photos[0]  # bright sky, clipped blue channel
    codes = np.arange(256, dtype=np.float64)
    pressed = np.where(codes > 150, 150 + 0.4 * (codes - 150), codes).round().astype(np.uint8)
    suppressed = features(photometric, photo.point(list(pressed) * 3))
    base = features(photometric, photo)
    assert suppressed["clip_hi_lum"] == 0 and suppressed["clip_hi_b"] == 0
    assert suppressed["high_band_frac"] < base["high_band_frac"]
    assert suppressed["high_band_log_density_ratio"] < base["high_band_log_density_ratio"]
    assert suppressed["lum_p99"] < base["lum_p99"] - 0.1


def test_photometric_statistics_load_without_torch():
    code = "import sys, phoneiqa.photometric; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------- CLIP (tiny, random weights)


def test_clip_image_features(tiny_clip, photos):
    import open_clip

    out = tiny_clip.encode(photos)
    assert out.shape == (2, 32) and torch.allclose(out.norm(dim=1), torch.ones(2))
    assert tiny_clip.preprocess.short_side == 64 and tiny_clip.preprocess.window == 64
    assert tiny_clip.encoder_id() == f"clip|{tiny_clip.model_name}:random|s64|lNone|c64|f0|n1"
    _, _, transform = open_clip.create_model_and_transforms(tiny_clip.model_name)  # open_clip's own preprocessing
    with torch.no_grad():
        reference = F.normalize(tiny_clip.model.encode_image(torch.stack([transform(p) for p in photos])), dim=-1)
    assert (out * reference).sum(1).min() > 0.99


def test_clip_loads_a_local_checkpoint(tiny_clip, photos, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(tiny_clip.model.state_dict(), path)
    loaded = create_encoder("clip", model_name=tiny_clip.model_name, pretrained=path)
    assert loaded.weights_id() == f"{tiny_clip.model_name}:tiny.pt"
    assert torch.equal(loaded.encode(photos), tiny_clip.encode(photos))


def test_clip_text_tower_reproduces_encode_text(tiny_clip):
    tower = tiny_clip.text_tower()
    tokens = tower.tokenize(["a photo of a dahlia.", "an overexposed photo"])
    with torch.no_grad():
        ours = tower.encode_embeddings(tower.token_embedding(tokens), tokens)
        assert torch.allclose(ours, tiny_clip.model.encode_text(tokens), atol=1e-6)
    text_params = [p for n, p in tiny_clip.model.named_parameters() if not n.startswith(("visual.", "logit_"))]
    assert {id(p) for p in tower.parameters()} == {id(p) for p in text_params}
