"""Seeded synthetic faces in the FER2013 format, so the FER pipeline runs without Kaggle.

Each image is a procedurally drawn 48x48 grayscale face: an oval of random skin tone on a
random background gradient, sometimes framed by hair, with eyes, brows, a nose and a
mouth. Only the expression geometry depends on the class (mouth curve and opening, brow
slant and height, eye opening, asymmetry); position, scale, rotation, tones, lighting and
pixel noise are drawn the same way for every class, so no pixel and no global brightness
gives the label away, while a small CNN can learn it. Every geometric parameter varies per
image and expressions come at random intensity, so classes overlap a little, as real
ones do.

Faces are rendered as signed distance fields over the pixel grid, vectorised over a batch,
with one-pixel analytic anti-aliasing: 700 faces take a small fraction of a second. Each
(usage, class) block draws from its own generator seeded by ``(seed, usage, class)``, so a
block's pixels do not depend on the order blocks are drawn in or on the other blocks' sizes.

``write_synthetic_fer`` writes the set in any of the three FER forms (``.npz``, the Kaggle
CSV, the image-folder release) atomically: files go to a temp name and are renamed into
place, the folder form is built in a temp sibling folder and renamed, so a reader (a DVC
stage, a loader running alongside) never sees a half-written snapshot.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image

from pipelines.fer.schema import EMOTIONS, FOLDER_NAMES, IMAGE_SIZE, FerDataset
from senim.atomic_files import atomic_write, write_text_atomically
from senim.config import FerSyntheticParams

FerForm = Literal["npz", "csv", "folder"]
FORMS: tuple[str, ...] = ("npz", "csv", "folder")
CSV_HEADER = "emotion,pixels,Usage"
# Usages the generator writes, with their image-folder split and file-name prefix.
_SPLITS: tuple[tuple[str, str], ...] = (("Training", "train"), ("PublicTest", "test"))
_PIXEL_TEXT = tuple(str(v) for v in range(256))


@dataclass(frozen=True)
class _Expression:
    """Mean expression geometry of a class, in face units (face half-width = 1, v downward).

    ``lift``: mouth corners above the mouth centre (> 0 smile, < 0 frown); ``tilt``: one
    corner raised more than the other; ``width``: mouth half-width; ``open_w``/``open_h``:
    half-axes of an open mouth (0 = closed); ``brow_in``/``brow_out``: inner and outer brow
    ends moved down (> 0) or up (< 0); ``brow_skew`` lowers one brow only, on the side of
    the raised corner (a random side per image); ``eye``: eye opening relative to neutral.
    """

    lift: float = 0.0
    tilt: float = 0.0
    width: float = 0.33
    open_w: float = 0.0
    open_h: float = 0.0
    brow_in: float = 0.0
    brow_out: float = 0.0
    brow_skew: float = 0.0
    eye: float = 1.0


_NEUTRAL = _Expression()
_EXPRESSIONS: dict[str, _Expression] = {
    # Brows pulled down toward the nose, narrowed eyes, a flat tight mouth.
    "Angry": _Expression(width=0.22, brow_in=0.22, brow_out=-0.08, eye=0.6),
    # One-sided sneer: the upper lip raised on one side, that brow lowered, eyes narrowed.
    "Disgust": _Expression(lift=0.05, tilt=0.22, width=0.3, brow_skew=0.18, eye=0.7),
    # Brows raised and drawn together, wide eyes, mouth open wide and flat.
    "Fear": _Expression(
        lift=-0.04, width=0.36, open_w=0.32, open_h=0.1, brow_in=-0.26, brow_out=-0.06, eye=1.6
    ),
    # Corners up, a wide arc.
    "Happy": _Expression(lift=0.24, width=0.4),
    # Corners down, inner brows raised.
    "Sad": _Expression(lift=-0.2, width=0.3, brow_in=-0.2, brow_out=0.08, eye=0.8),
    # Brows high and level, wide eyes, a round open mouth.
    "Surprise": _Expression(
        width=0.18, open_w=0.15, open_h=0.19, brow_in=-0.24, brow_out=-0.24, eye=1.7
    ),
    # Level brows, straight mouth.
    "Neutral": _NEUTRAL,
}
assert set(_EXPRESSIONS) == set(EMOTIONS)

# Per-image spread of each geometric parameter around the (intensity-scaled) class mean.
_SPREAD = _Expression(
    lift=0.035,
    tilt=0.03,
    width=0.035,
    open_w=0.03,
    open_h=0.025,
    brow_in=0.04,
    brow_out=0.035,
    brow_skew=0.03,
    eye=0.15,
)

# Fixed face layout, in face units.
_FACE_H = 1.28  # vertical half-axis of the face oval (horizontal = 1)
_EYE_U, _EYE_V, _EYE_W, _EYE_H = 0.38, -0.18, 0.17, 0.085
_PUPIL_R = 0.075
_BROW_V, _BROW_IN_U, _BROW_OUT_U, _BROW_T = -0.42, 0.13, 0.58, 0.065
_MOUTH_V, _LIP_T = 0.6, 0.06
_NOSE_V0, _NOSE_V1, _NOSE_T = -0.02, 0.3, 0.035


def generate_fer(params: FerSyntheticParams) -> FerDataset:
    """Training then PublicTest rows, each by class then index; same params, same bytes."""
    xs, ys, usages = [], [], []
    for split_index, (usage, _) in enumerate(_SPLITS):
        per_class = params.train_per_class if usage == "Training" else params.test_per_class
        for label, emotion in enumerate(EMOTIONS):
            rng = np.random.default_rng([params.seed % 2**64, split_index, label])
            xs.append(_draw_faces(rng, _EXPRESSIONS[emotion], per_class, params.noise))
            ys.append(np.full(per_class, label, dtype=np.uint8))
            usages.append(np.full(per_class, usage))
    return FerDataset(
        np.concatenate(xs),
        np.concatenate(ys),
        np.concatenate(usages),
        source=f"synthetic FER (seed {params.seed})",
    )


def write_synthetic_fer(
    path: str | Path, params: FerSyntheticParams, form: FerForm = "npz"
) -> Path:
    """Write the synthetic set as ``.npz``, Kaggle CSV or image folders at ``path``, atomically.

    ``npz``: arrays ``x``, ``y``, ``usage`` (no pickled objects). ``csv``: the original
    ``emotion,pixels,Usage`` file. ``folder``: ``path/train/<class>/Training_<i>.png`` and
    ``path/test/<class>/PublicTest_<i>.png``, ``i`` the row's position within its usage,
    replacing any folder already at ``path``.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    data = generate_fer(params)
    path = Path(path)
    if form == "npz":
        return atomic_write(path, lambda handle: _write_npz(handle, data))
    if form == "csv":
        return write_text_atomically(path, _csv_text(data))
    return _write_folder(path, data)


def _write_npz(handle: BinaryIO, data: FerDataset) -> None:
    usage = data.usage.astype(str)  # a fixed-width unicode array: loads without pickle
    np.savez_compressed(handle, x=data.x, y=data.y, usage=usage)


def _csv_text(data: FerDataset) -> str:
    lines = [CSV_HEADER]
    for image, label, usage in zip(data.x, data.y, data.usage, strict=True):
        pixels = " ".join([_PIXEL_TEXT[v] for v in image.ravel().tolist()])
        lines.append(f"{int(label)},{pixels},{usage}")
    return "\n".join(lines) + "\n"


def _write_folder(root: Path, data: FerDataset) -> Path:
    """Build the tree in a temp sibling, then rename it into place (moving any old one aside)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".tmp"))
    old: Path | None = None
    try:
        for usage, split in _SPLITS:
            part = data.part(usage)
            for name in FOLDER_NAMES:
                (staging / split / name).mkdir(parents=True)
            for i, (image, label) in enumerate(zip(part.x, part.y, strict=True)):
                target = staging / split / FOLDER_NAMES[label] / f"{usage}_{i}.png"
                Image.fromarray(image).save(target, format="PNG")  # 2-D uint8: mode L
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the tree from other readers
        if root.exists():
            old = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".old"))
            os.replace(root, old / root.name)
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and (old / root.name).exists() and not root.exists():
            os.replace(old / root.name, root)  # put the previous tree back
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return root


# --- drawing -------------------------------------------------------------------------------


def _draw_faces(rng: np.random.Generator, mean: _Expression, n: int, noise: float) -> np.ndarray:
    """n faces of one expression as (n, 48, 48) uint8."""

    def col(values: np.ndarray) -> np.ndarray:  # per-image value broadcast over the grid
        return values.astype(np.float32)[:, None, None]

    # Expression geometry: the class deviation from neutral at a random intensity, plus spread.
    intensity = rng.uniform(0.7, 1.2, size=n)
    geometry = {}
    for name in _Expression.__dataclass_fields__:
        base, target = getattr(_NEUTRAL, name), getattr(mean, name)
        value = base + intensity * (target - base) + rng.normal(0.0, getattr(_SPREAD, name), n)
        geometry[name] = value
    is_open = mean.open_h > 0
    geometry["open_w"] = np.maximum(geometry["open_w"], 0.06)
    geometry["open_h"] = np.maximum(geometry["open_h"], 0.03)
    geometry["width"] = np.clip(geometry["width"], 0.12, 0.5)
    geometry["eye"] = np.clip(geometry["eye"], 0.4, 2.2)
    sneer_side = rng.choice([-1.0, 1.0], size=n)  # which side a one-sided expression takes

    # Pose, same for every class: centre jitter, size, a small rotation.
    half = (IMAGE_SIZE - 1) / 2
    cx = half + np.clip(rng.normal(0.0, 1.2, n), -3.0, 3.0)
    cy = half + 1.0 + np.clip(rng.normal(0.0, 1.2, n), -3.0, 3.0)
    scale = rng.uniform(15.5, 18.5, n)  # pixels per face unit
    angle = np.deg2rad(rng.normal(0.0, 5.0, n).clip(-12.0, 12.0))
    grid = np.arange(IMAGE_SIZE, dtype=np.float32)
    dx = grid[None, None, :] - col(cx)
    dy = grid[None, :, None] - col(cy)
    cos, sin = col(np.cos(angle)), col(np.sin(angle))
    u = (cos * dx + sin * dy) / col(scale)  # face coordinates: u right, v down
    v = (-sin * dx + cos * dy) / col(scale)
    px = col(1.0 / scale)  # one pixel in face units: the anti-aliasing width

    def cover(distance: np.ndarray) -> np.ndarray:  # signed distance -> pixel coverage
        return np.clip(0.5 - distance / px, 0.0, 1.0)

    # Tones, same for every class.
    ramp_angle = rng.uniform(0.0, 2 * np.pi, n)
    ramp = (col(np.cos(ramp_angle)) * dx + col(np.sin(ramp_angle)) * dy) / IMAGE_SIZE
    bg_mid, bg_span = rng.uniform(25.0, 230.0, n), rng.uniform(-70.0, 70.0, n)
    skin = rng.uniform(85.0, 225.0, n)
    too_close = np.abs(skin - bg_mid) < 35.0  # keep the face visible against its background
    bg_mid = np.where(too_close, np.where(skin > 140.0, skin - 90.0, skin + 80.0), bg_mid)
    feature = skin * rng.uniform(0.1, 0.35, n)  # brows, lips, pupils
    hair_tone = rng.uniform(10.0, 120.0, n)
    sclera = np.minimum(skin + rng.uniform(15.0, 45.0, n), 250.0)

    image = col(bg_mid) + col(bg_span) * ramp
    has_hair = rng.random(n) < 0.6
    hair_d = _ellipse(u, v + col(rng.uniform(0.25, 0.45, n)), 1.12, _FACE_H * 0.95)
    image = _paint(image, cover(hair_d) * col(has_hair), hair_tone)
    face = cover(_ellipse(u, v, 1.0, _FACE_H))
    image = _paint(image, face, skin)
    # Soft shadows around the eyes: faces, not flat discs.
    for side in (-1.0, 1.0):
        depth = 1.0 - np.hypot((u - side * _EYE_U) / 0.3, (v - _EYE_V + 0.03) / 0.2)
        image = _paint(image, 0.25 * np.clip(depth, 0.0, 1.0) * face, feature)
    nose = cover(_segment(u, v, 0.0, _NOSE_V0, 0.06, _NOSE_V1) - _NOSE_T)
    image = _paint(image, 0.45 * nose * face, feature)

    # Eyes: sclera with a pupil clipped to it; the opening scales the eye's height.
    eye_h = _EYE_H * geometry["eye"]
    gaze = rng.normal(0.0, 0.03, n)
    for side in (-1.0, 1.0):
        eye = cover(_ellipse(u - side * _EYE_U, v - _EYE_V, _EYE_W, col(eye_h)))
        image = _paint(image, eye, sclera)
        pupil = cover(_circle(u - side * _EYE_U - col(gaze), v - _EYE_V, _PUPIL_R))
        image = _paint(image, np.minimum(pupil, eye), feature * 0.6)

    # Brows: a thick segment from the inner to the outer end, each end moved up or down.
    brow_t = _BROW_T * rng.uniform(0.8, 1.3, n)
    for side in (-1.0, 1.0):
        skew = np.where(sneer_side == side, geometry["brow_skew"], 0.0)
        v_in = _BROW_V + geometry["brow_in"] + skew - 0.06 * (geometry["eye"] - 1.0)
        v_out = _BROW_V + geometry["brow_out"] + 0.5 * skew - 0.06 * (geometry["eye"] - 1.0)
        brow = _segment(u, v, side * _BROW_IN_U, col(v_in), side * _BROW_OUT_U, col(v_out))
        image = _paint(image, cover(brow - col(brow_t)), feature)

    # Mouth: open, a dark ellipse ringed by lips; closed, a lip line through the corners.
    mouth_v = _MOUTH_V + rng.normal(0.0, 0.025, n)
    lip_t = col(_LIP_T * rng.uniform(0.8, 1.3, n))
    if is_open:
        opening = _ellipse(u, v - col(mouth_v), col(geometry["open_w"]), col(geometry["open_h"]))
        image = _paint(image, cover(opening), feature * 0.55)
        image = _paint(image, cover(np.abs(opening) - 0.6 * lip_t), feature)
    else:
        lip = _mouth_curve(
            u,
            v - col(mouth_v),
            col(geometry["width"]),
            col(geometry["lift"]),
            col(geometry["tilt"] * sneer_side),
        )
        image = _paint(image, cover(lip - lip_t), feature)

    # Light falling off across the image from a random side, then sensor noise.
    light_angle = rng.uniform(0.0, 2 * np.pi, n)
    light = (col(np.cos(light_angle)) * dx + col(np.sin(light_angle)) * dy) / IMAGE_SIZE
    image = image * (1.0 + col(rng.uniform(0.0, 0.35, n)) * light)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise * 255.0)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _paint(image: np.ndarray, alpha: np.ndarray, tone: np.ndarray | float) -> np.ndarray:
    tone = tone.astype(np.float32)[:, None, None] if isinstance(tone, np.ndarray) else tone
    return image + alpha * (tone - image)


def _ellipse(u: np.ndarray, v: np.ndarray, a, b) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse with half-axes a, b."""
    k = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    gradient = np.sqrt((u / (a * a)) ** 2 + (v / (b * b)) ** 2)
    return k * (k - 1.0) / np.maximum(gradient, 1e-9)


def _circle(u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    return np.sqrt(u * u + v * v) - r


def _segment(u, v, u0, v0, u1, v1) -> np.ndarray:
    """Distance to the segment (u0, v0)-(u1, v1)."""
    du, dv = u1 - u0, v1 - v0
    t = np.clip(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return np.sqrt((u - u0 - t * du) ** 2 + (v - v0 - t * dv) ** 2)


def _mouth_curve(u, v, width, lift, tilt) -> np.ndarray:
    """Approximate distance to v = -lift (u/w)^2 - tilt (1 + u/w) / 2 for |u| <= w.

    ``lift`` raises both corners (a smile, or a frown when negative); ``tilt`` raises the
    right corner (u = w) by ``tilt`` and leaves the left one level.
    """
    uc = np.clip(u, -width, width)
    s = uc / width
    curve = -lift * s * s - tilt * (1.0 + s) / 2.0
    slope = (-2.0 * lift * s - tilt / 2.0) / width
    vertical = (v - curve) / np.sqrt(1.0 + slope * slope)
    return np.sqrt((u - uc) ** 2 + vertical * vertical)
