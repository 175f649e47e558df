"""The independent generator's families of operators: Levels and Curves, lightness spread, haze, glare,
base/detail, highlights; :func:`random_variant` and :func:`ladder`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tools.independent_generator.tones import (
    EXCLUSIVE,
    ISSUE_COUNT_P,
    ISSUE_WEIGHTS,
    LABELS,
    ORDER,
    _blur,
    _brightest,
    _camera_blowout,
    _draw_camera_blowout,
    _draw_camera_brighter,
    _draw_camera_darker,
    _edit_lightness,
    _edit_value,
    _exposure_ev,
    _guided_base,
    _key,
    _linear,
    _lstar,
    _luminance,
    _pchip,
    _scale_to,
    _srgb,
    _y_of_lstar,
)

# ---------------------------------------------------------------- Levels and Curves


def _levels_brighter(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Levels on L*: input white point pulled in and midtone gamma raised."""
    white, gamma = 1 - s * p["white_cut"], 1 + s * p["gamma_top"]
    return _edit_lightness(img, lambda L: 100 * np.clip(L / (100 * white), 0, 1) ** (1 / gamma))


def _levels_darker(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Levels on L*: input black point raised, midtone gamma lowered, output white lowered."""
    black, gamma, white = s * p["black_cut"], 1 / (1 + s * p["gamma_top"]), 1 - s * p["white_drop"]
    return _edit_lightness(img, lambda L: 100 * white * np.clip((L / 100 - black) / (1 - black), 0, 1) ** (1 / gamma))


def _curves_brighter(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Curves on HSV value: the quarter, middle and three-quarter points lifted."""
    lift = s * p["lift"]
    ys = [0, 0.25 + lift * p["low"], 0.5 + lift, 0.75 + lift * p["high"], 1]
    return _edit_value(img, lambda v: _pchip(v, [0, 0.25, 0.5, 0.75, 1], ys))


def _curves_darker(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Curves on HSV value: the quarter, middle, three-quarter and white points pulled down."""
    drop = s * p["drop"]
    ys = [0, 0.25 - drop * p["low"], 0.5 - drop, 0.75 - drop * p["high"], 1 - s * p["white_drop"]]
    return _edit_value(img, lambda v: _pchip(v, [0, 0.25, 0.5, 0.75, 1], ys))


def _levels_output(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Levels on HSV value: output black raised and output white lowered (with a mild midtone gamma)."""
    black, white, gamma = s * p["black_top"], 1 - s * p["white_top"], p["gamma"] ** s
    return _edit_value(img, lambda v: black + (white - black) * v ** (1 / gamma))


def _levels_input(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Levels on HSV value: input black and white points pulled towards each other (both ends clip)."""
    black, white, gamma = s * p["black_top"], 1 - s * p["white_top"], p["gamma"] ** s
    return _edit_value(img, lambda v: np.clip((v - black) / (white - black), 0, 1) ** (1 / gamma))


def _s_curve(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Curves on L*: the 20th percentile pulled down and the 80th pushed up about the fixed median."""

    def edit(lightness: np.ndarray) -> np.ndarray:
        low, mid, high = np.quantile(lightness, [0.2, 0.5, 0.8])
        mid = float(np.clip(mid, 10, 90))
        low, high = max(min(float(low), mid - 5), 1.0), min(max(float(high), mid + 5), 99.0)
        ys = [0, low * (1 - s * p["shadow"]), mid, high + s * p["highlight"] * (100 - high), 100]
        return _pchip(lightness, [0, low, mid, high, 100], ys)

    return _edit_lightness(img, edit)


# ---------------------------------------------------------------- lightness spread, haze, glare, base/detail


def _lightness_spread(img: np.ndarray, factor: float, pivot: float) -> np.ndarray:
    """L* scaled by ``factor`` about its ``pivot`` quantile (< 1 flatter, > 1 harsher), chromaticity kept."""

    def edit(lightness: np.ndarray) -> np.ndarray:
        mid = np.float32(np.quantile(lightness, pivot))
        return mid + np.float32(factor) * (lightness - mid)

    return _edit_lightness(img, edit)


def _lightness_squeeze(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    return _lightness_spread(img, 1 - s * p["squeeze_top"], p["pivot"])


def _lightness_stretch(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    return _lightness_spread(img, 1 + s * p["stretch_top"], p["pivot"])


def _base_detail(img: np.ndarray, base_gain: float, detail_gain: float, sigma_share: float) -> np.ndarray:
    """L* split into a Gaussian base layer and detail; the base scaled about its median, the detail by a gain."""

    def edit(lightness: np.ndarray) -> np.ndarray:
        base = _blur(lightness, sigma_share * min(lightness.shape))
        mid = np.float32(np.median(base))
        return mid + np.float32(base_gain) * (base - mid) + np.float32(detail_gain) * (lightness - base)

    return _edit_lightness(img, edit)


def _flatten(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Large-scale flattening: the base layer squeezed, the detail mostly kept."""
    return _base_detail(img, 1 - s * p["base_top"], 1 - s * p["detail_loss"], p["sigma"])


def _clarity(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """ "Clarity": the base layer stretched and the local detail boosted."""
    return _base_detail(img, 1 + s * p["base_top"], 1 + s * p["detail_top"], p["sigma"])


def _haze(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Atmospheric haze ``J·t + A·(1 − t)`` in linear light; the transmission falls towards the top of the frame.

    The airlight ``A`` is a share of the photo's bright level (90th percentile of luminance), slightly blue.
    """
    lin = _linear(img)
    depth = p["near"] + (1 - p["near"]) * np.linspace(1, 0, img.shape[0], dtype=np.float32)[:, None, None]
    t = 1 - s * p["haze_top"] * depth
    level = p["airlight"] * max(float(np.quantile(_luminance(lin), 0.9)), 0.1)
    airlight = np.float32(level) * np.array([1 - p["tint"], 1, 1 + p["tint"]], dtype=np.float32)
    return _srgb(lin * t + airlight * (1 - t))


def _veiling_glare(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Stray light: a heavily blurred copy of the scene added in linear light, then the exposure partly restored.

    The restoring gain brings the key (geometric mean luminance) back by the share ``restore`` of its rise.
    """
    lin = _linear(img)
    sigma = p["sigma"] * min(img.shape[:2])
    glare = np.stack([_blur(lin[..., c], sigma) for c in range(3)], axis=2)
    veiled = lin + np.float32(s * p["glare_top"]) * glare
    rise = _key(veiled) - _key(lin)
    return _srgb(veiled * np.float32(2.0 ** (-p["restore"] * rise)))


# ---------------------------------------------------------------- highlights


def _area_light(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """A bright elliptical area light with a halo, added in linear light; its clipped core covers ~``s·share_top``."""
    share = s * p["share_top"]
    if share <= 0:
        return img
    h, w = img.shape[:2]
    radius = math.sqrt(share * h * w / math.pi) / math.sqrt(math.log(p["intensity"]))
    rx, ry = radius * math.sqrt(p["aspect"]), radius / math.sqrt(p["aspect"])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - p["x"] * w, yy - p["y"] * h
    cos, sin = math.cos(p["angle"]), math.sin(p["angle"])
    d2 = ((cos * dx + sin * dy) / rx) ** 2 + ((-sin * dx + cos * dy) / ry) ** 2
    light = p["intensity"] * np.exp(-d2) + p["halo"] * np.exp(-d2 / 9)
    tint = np.array([1, 1 - 0.1 * p["warmth"], 1 - 0.25 * p["warmth"]], dtype=np.float32)
    return _srgb(_linear(img) + light[..., None] * tint)


def _midtone_knee(level: np.ndarray, y: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``level`` over the mid-tone pixels (luminance between its 45th and 55th percentiles).

    Pressing only what lies above this knee leaves most mid-tone pixels, and so the median luminance, in place.
    """
    low, high = np.quantile(y, [0.45, 0.55])
    return float(np.quantile(level[(y >= low) & (y <= high)], q))


def _highlight_press(
    img: np.ndarray, s: float, p: dict[str, float]
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """What the highlight families share: linear RGB, its brightest channel, and the knee, top and drop to apply.

    The knee is the ``knee`` quantile of the brightest channel over the mid-tone pixels, the top its 99.5th
    percentile; the drop (stops) is ``s · drop_top``, at most 97 % of the stops from the knee to the top.
    """
    lin = _linear(img)
    value = _brightest(lin)
    knee = max(_midtone_knee(value, _luminance(lin), p["knee"]), 1e-3)
    top = float(np.quantile(value, 0.995))
    drop = min(s * p["drop_top"], 0.97 * math.log2(max(top, 1e-4) / max(knee, 1e-4)))
    return lin, value, knee, top, max(drop, 0.0)


def _durand(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Durand-style local tone mapping: the upper range of the log-brightness base layer pressed down, detail kept.

    Brightness is the largest linear channel; the base is its log smoothed by an edge-preserving (guided) filter,
    pressed linearly in log space from the knee (unchanged) to the base's ``top`` quantile or one ``drop`` above
    the knee, whichever is higher (``drop`` stops lower from there on, so the base never reverses); the detail
    (log brightness minus base) is attenuated by up to ``detail_cut`` along the same ramp.
    """
    lin, value, _, _, drop = _highlight_press(img, s, p)
    if drop < 1e-3:
        return img
    log_v = np.log2(value + np.float32(1e-4))
    base = _guided_base(log_v, max(1, round(p["radius"] * min(value.shape))), p["eps"])
    knee = _midtone_knee(base, _luminance(lin), p["knee"])
    width = max(float(np.quantile(base, p["top"])) - knee, drop)
    ramp = np.clip((base - knee) / width, 0, 1)
    pressed = base - drop * ramp + (log_v - base) * (1 - np.float32(p["detail_cut"]) * ramp)
    return _srgb(_scale_to(lin, value, np.exp2(pressed) - np.float32(1e-4)))


def _grey_band(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Lightness of the brightest channel above a knee rolled off (``knee + w·x/(x + w)``) into a grey band whose
    top is ``drop`` stops below the photo's highlights; chromaticity kept."""
    lin, value, knee, top, drop = _highlight_press(img, s, p)
    if drop < 1e-3:
        return img
    lightness = _lstar(value)
    knee_l, top_l = (float(_lstar(np.float32(x))) for x in (knee, top))
    target = float(_lstar(np.float32(top * 2.0**-drop)))
    width = (target - knee_l) * (top_l - knee_l) / max(top_l - target, 1e-3)
    x = np.maximum(lightness - knee_l, 0)
    pressed = np.where(lightness > knee_l, knee_l + width * x / (x + width), lightness)
    return _srgb(_scale_to(lin, value, _y_of_lstar(pressed)))


def _curves_top(img: np.ndarray, s: float, p: dict[str, float]) -> np.ndarray:
    """Curves on HSV value: the highlight point (99.5th percentile) pulled ``drop`` stops down, below the knee kept."""
    _, _, knee, top, drop = _highlight_press(img, s, p)
    if drop < 1e-3:
        return img
    knee_v, top_v = (float(_srgb(np.float32(x))) for x in (knee, top))
    target = float(_srgb(np.float32(top * 2.0**-drop)))
    xs, ys = [0, knee_v / 2, knee_v, top_v], [0, knee_v / 2, knee_v, target]
    if top_v < 0.995:
        xs, ys = [*xs, 1], [*ys, target + p["tail"] * (1 - top_v)]
    return _edit_value(img, lambda v: _pchip(v, xs, ys))


# ---------------------------------------------------------------- the families


@dataclass(frozen=True)
class _Family:
    """One operator family for one issue: ``draw`` picks its random shape, ``apply`` runs it at a strength 0..1.

    Strength 1 is meant to reach severe or blocking on most photos and strength 0 to leave the issue unset; the
    strength rises along a ladder, while the drawn shape stays.
    """

    draw: Callable[[np.random.Generator], dict[str, float]]
    apply: Callable[[np.ndarray, float, dict[str, float]], np.ndarray]


def _uniform(**ranges: tuple[float, float]) -> Callable[[np.random.Generator], dict[str, float]]:
    """A ``draw`` that picks every named parameter uniformly from its range."""
    return lambda rng: {name: float(rng.uniform(low, high)) for name, (low, high) in ranges.items()}


def _draw_area_light(rng: np.random.Generator) -> dict[str, float]:
    return {
        "share_top": rng.uniform(0.45, 0.6),
        "intensity": rng.uniform(4, 12),
        "aspect": rng.uniform(0.6, 1.6),
        "angle": rng.uniform(0, math.pi),
        "x": rng.uniform(0.3, 0.7),
        "y": rng.uniform(0.3, 0.7),
        "halo": rng.uniform(0.05, 0.25),
        "warmth": rng.uniform(0, 1),
    }


FAMILIES: dict[str, dict[str, _Family]] = {
    "bright": {
        "camera": _Family(_draw_camera_brighter, _exposure_ev),
        "levels_lstar": _Family(_uniform(white_cut=(0.0, 0.12), gamma_top=(1.0, 1.5)), _levels_brighter),
        "curves_value": _Family(_uniform(lift=(0.3, 0.36), low=(0.6, 1.0), high=(0.4, 0.65)), _curves_brighter),
    },
    "dark": {
        "camera": _Family(_draw_camera_darker, _exposure_ev),
        "levels_lstar": _Family(
            _uniform(black_cut=(0.0, 0.08), gamma_top=(0.8, 1.3), white_drop=(0.0, 0.25)), _levels_darker
        ),
        "curves_value": _Family(
            _uniform(drop=(0.25, 0.33), low=(0.45, 0.7), high=(0.8, 1.2), white_drop=(0, 0.3)), _curves_darker
        ),
    },
    "low_contrast": {
        "haze": _Family(_uniform(haze_top=(0.7, 0.85), near=(0.3, 1.0), airlight=(0.6, 1.1), tint=(0.0, 0.12)), _haze),
        "veiling_glare": _Family(_uniform(glare_top=(2.5, 4.0), sigma=(0.2, 0.4), restore=(0.5, 1.0)), _veiling_glare),
        "lightness_squeeze": _Family(_uniform(squeeze_top=(0.6, 0.75), pivot=(0.5, 0.8)), _lightness_squeeze),
        "flatten": _Family(_uniform(base_top=(0.8, 0.95), detail_loss=(0.1, 0.4), sigma=(0.03, 0.08)), _flatten),
        "levels_output": _Family(
            _uniform(black_top=(0.25, 0.4), white_top=(0.1, 0.25), gamma=(0.7, 1.0)), _levels_output
        ),
    },
    "high_contrast": {
        "lightness_stretch": _Family(_uniform(stretch_top=(1.0, 1.5), pivot=(0.3, 0.55)), _lightness_stretch),
        "s_curve": _Family(_uniform(shadow=(0.7, 0.92), highlight=(0.6, 0.9)), _s_curve),
        "levels_input": _Family(
            _uniform(black_top=(0.2, 0.35), white_top=(0.15, 0.3), gamma=(0.85, 1.15)), _levels_input
        ),
        "clarity": _Family(_uniform(base_top=(0.7, 1.1), detail_top=(0.5, 1.5), sigma=(0.03, 0.08)), _clarity),
    },
    "overexposed": {
        "camera": _Family(_draw_camera_blowout, _camera_blowout),
        "area_light": _Family(_draw_area_light, _area_light),
    },
    "over_suppressed": {
        "durand": _Family(
            _uniform(
                drop_top=(1.7, 2.1),
                knee=(0.2, 0.5),
                top=(0.85, 0.95),
                radius=(0.01, 0.04),
                eps=(0.05, 0.5),
                detail_cut=(0.3, 0.7),
            ),
            _durand,
        ),
        "grey_band": _Family(_uniform(drop_top=(1.5, 1.9), knee=(0.2, 0.5)), _grey_band),
        "curves_top": _Family(_uniform(drop_top=(1.5, 1.9), knee=(0.2, 0.5), tail=(0.2, 0.6)), _curves_top),
    },
}
"""issue label -> family name -> operator family."""


def _to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


def _to_image(img: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))


def _apply_issue(
    img: np.ndarray, label: str, rng: np.random.Generator, strengths: list[float]
) -> tuple[list[np.ndarray], str, dict[str, float]]:
    """One family drawn for ``label``, applied to ``img`` at each of ``strengths``.

    Also returns the family's parameter prefix (``label.family``) and its drawn shape, keyed ``label.family.name``.
    """
    name = str(rng.choice(sorted(FAMILIES[label])))
    family = FAMILIES[label][name]
    shape = family.draw(rng)
    prefix = f"{label}.{name}"
    params = {f"{prefix}.{key}": float(value) for key, value in shape.items()}
    return [family.apply(img, s, shape) for s in strengths], prefix, params


def random_variant(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, dict[str, float]]:
    """A random degradation (0 to 3 issues, several operator families).

    Returns the image (before encoding) and the parameters drawn.

    Issues are drawn without aiming at both of an exclusive pair, applied in :data:`ORDER` at uniform random
    strengths; slight sensor-like noise is added half of the time.  Parameters are named
    ``label.family.parameter`` (``label.family.strength`` for the strength), plus ``noise.sigma``.
    """
    img = _to_array(image)
    params: dict[str, float] = {}
    chosen: list[str] = []
    for label in rng.choice(LABELS, size=rng.choice(4, p=ISSUE_COUNT_P), replace=False, p=ISSUE_WEIGHTS):
        if EXCLUSIVE[str(label)] not in chosen:
            chosen.append(str(label))
    for label in sorted(chosen, key=ORDER.index):
        strength = float(rng.uniform(0.05, 1.0))
        (img,), prefix, drawn = _apply_issue(img, label, rng, [strength])
        params.update({**drawn, f"{prefix}.strength": strength})
    sigma = float(rng.uniform(0.5, 2.0) / 255 if rng.random() < 0.5 else 0.0)
    if sigma > 0:
        img = img + np.float32(sigma) * rng.standard_normal(img.shape, dtype=np.float32)
    params["noise.sigma"] = sigma
    return _to_image(img), params


def _ladder(
    image: Image.Image, label: str, rng: np.random.Generator, steps: int
) -> list[tuple[Image.Image, dict[str, float]]]:
    """:func:`ladder`, with each step's parameters (the family's shape and the step's strength)."""
    if steps < 2:
        raise ValueError(f"a ladder needs at least 2 steps, got {steps}")
    img = _to_array(image)
    top = float(rng.uniform(0.9, 1.0))
    strengths = [top * k / (steps - 1) for k in range(1, steps)]
    images, prefix, params = _apply_issue(img, label, rng, strengths)
    return [(image, {**params, f"{prefix}.strength": 0.0})] + [
        (_to_image(out), {**params, f"{prefix}.strength": s}) for out, s in zip(images, strengths, strict=True)
    ]


def ladder(image: Image.Image, label: str, rng: np.random.Generator, steps: int = 5) -> list[Image.Image]:
    """`steps` images of the same photo with increasing severity of ONE issue `label` (step 0 = untouched photo).

    One operator family is drawn at random per ladder; its strength rises linearly from 0 to about 1, so the
    measured level should rise from none to severe or blocking over the ladder.
    """
    return [out for out, _ in _ladder(image, label, rng, steps)]
