"""Draws the course images: a textured background, one shape, clutter lines and dots, and noise.

Everything random is drawn up front into a ``Scenes`` record (``sample_scenes``); ``render_scenes``
then turns it into pixels with no randomness of its own. Both are vectorised over a whole batch.

Byte-identical output on every machine is a hard requirement, so this module only uses
operations that IEEE 754 rounds exactly (+ - * /, sqrt, floor, rint, min/max, abs, comparisons)
on float64 arrays: no sin/cos/exp/log on arrays (their SIMD versions differ between CPUs), no
matmul or sums over floats (their order differs), and no torch. Angles are whole degrees looked up
in a table of rounded values; random numbers are PCG64's doubles, turned into integers with floor.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .shapes import COS_TABLE, COURSE_CLASSES, SIN_TABLE, signed_distance

__all__ = ["IMAGE_SIZE", "Scenes", "render_images", "render_scenes", "sample_scenes"]

IMAGE_SIZE = 32
NUM_CLASSES = len(COURSE_CLASSES)
CHUNK = 1000  # images drawn from one random stream; a multiple of the class count keeps chunks balanced

# The difficulty knobs. Each is drawn independently of the class, so none of them gives it away.
RADIUS_PX = (7.0, 13.0)  # distance from a shape's origin to its farthest point
INSIDE_FRACTION = 0.75  # how much of the radius must stay inside the frame
MIN_CONTRAST = 90.0  # smallest RGB distance between the shape and either background colour
TEXTURE_STRENGTH = (0.2, 0.9)  # how far the background's second colour moves towards a third
TEXTURE_PERIOD_PX = (3.0, 10.0)
BLOTCH_GRID = 5  # blotches are a 5×5 grid of random values, smoothly interpolated
LINE_SLOTS_UNDER, LINE_SLOTS_OVER = 2, 2
DOT_SLOTS_UNDER, DOT_SLOTS_OVER = 3, 3
CLUTTER_PROBABILITY = 0.5  # each slot holds a line or dot with this chance
LINE_HALF_LENGTH_PX = (4.0, 20.0)
LINE_HALF_WIDTH_PX = (0.35, 0.75)  # at most 1.5 px wide: thinner than any shape's stroke
DOT_RADIUS_PX = (0.6, 1.4)  # far smaller than the smallest disc
NOISE_AMPLITUDE = (0.0, 24.0)  # per-pixel noise, triangular on [-a, a]

TEXTURES = ("flat", "gradient", "stripes", "checks", "blotches")
COLOUR_CANDIDATES = 16  # tries per image to find background colours with enough contrast


class _Draws:
    """Uniform doubles from PCG64 and the integers and ranges made from them with exact operations."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng

    def uniform(self, low: float, high: float, size) -> np.ndarray:
        return low + (high - low) * self._rng.random(size)

    def integers(self, low: int, high: int, size) -> np.ndarray:
        """Integers in [low, high)."""
        return low + np.floor(self._rng.random(size) * (high - low)).astype(np.int64)

    def chance(self, probability: float, size) -> np.ndarray:
        return self._rng.random(size) < probability


@dataclass(frozen=True)
class Clutter:
    """Thin line segments or small dots, one row per image and one column per slot."""

    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray  # whole degrees (lines only)
    half_length: np.ndarray  # (lines only)
    size: np.ndarray  # half width of a line, radius of a dot
    colour: np.ndarray  # (n, slots, 3)
    present: np.ndarray  # (n, slots) bool


@dataclass(frozen=True)
class Scenes:
    """Everything random about a batch of images; ``render_scenes`` draws them."""

    labels: np.ndarray  # (n,) int64
    centre_x: np.ndarray  # shape origin in pixels, 0..32 from the left
    centre_y: np.ndarray
    radius: np.ndarray  # pixels per local unit
    angle: np.ndarray  # whole degrees
    mirror: np.ndarray  # +1 or -1
    foreground: np.ndarray  # (n, 3) RGB, 0..255
    background: np.ndarray  # (n, 3)
    background_2: np.ndarray  # (n, 3) the texture's second colour
    texture: np.ndarray  # index into TEXTURES
    texture_angle: np.ndarray
    texture_period: np.ndarray
    texture_phase: np.ndarray  # (n, 2)
    texture_sharpness: np.ndarray
    blotches: np.ndarray  # (n, BLOTCH_GRID, BLOTCH_GRID) in 0..1
    lines: Clutter
    dots: Clutter
    noise: np.ndarray  # (n, 3, 32, 32) in -1..1, scaled by noise_amplitude
    noise_amplitude: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _balanced_labels(draw: _Draws, count: int) -> np.ndarray:
    """Each class count // 10 or count // 10 + 1 times, in random order."""
    keys = draw.uniform(0.0, 1.0, count)
    return (np.arange(count, dtype=np.int64) % NUM_CLASSES)[np.argsort(keys, kind="stable")]


def _contrasting_colours(draw: _Draws, foreground: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two background colours, each at least MIN_CONTRAST from the foreground in RGB.

    The first is the first of COLOUR_CANDIDATES random colours that is far enough; the second moves
    from it a random way towards another far-enough candidate, so textures range from faint to bold.
    """
    n = len(foreground)
    rows = np.arange(n)
    candidates = draw.integers(0, 256, (n, COLOUR_CANDIDATES, 3)).astype(np.float64)
    strength = draw.uniform(*TEXTURE_STRENGTH, (n, 1))
    # If no candidate is far enough (rare), fall back to the farthest corner of the RGB cube.
    farthest = np.where(foreground < 128, 255.0, 0.0)

    def far_enough(colours: np.ndarray) -> np.ndarray:
        diff = colours - foreground[:, None, :]
        return (diff * diff).sum(axis=2) >= MIN_CONTRAST * MIN_CONTRAST  # small integers: sums are exact

    ok = far_enough(candidates)
    first = np.argmax(ok, axis=1)
    background = np.where(ok[rows, first][:, None], candidates[rows, first], farthest)

    mixed = np.rint(background[:, None, :] + (candidates - background[:, None, :]) * strength[:, :, None])
    ok = far_enough(mixed)
    ok[rows, first] = False  # the first candidate would give a flat background
    second = np.argmax(ok, axis=1)
    background_2 = np.where(ok[rows, second][:, None], mixed[rows, second], background)
    return background, background_2


def _clutter(draw: _Draws, n: int, slots: int, size_range: tuple[float, float]) -> Clutter:
    return Clutter(
        x=draw.uniform(0.0, IMAGE_SIZE, (n, slots)),
        y=draw.uniform(0.0, IMAGE_SIZE, (n, slots)),
        angle=draw.integers(0, 360, (n, slots)),
        half_length=draw.uniform(*LINE_HALF_LENGTH_PX, (n, slots)),
        size=draw.uniform(*size_range, (n, slots)),
        colour=draw.integers(0, 256, (n, slots, 3)).astype(np.float64),
        present=draw.chance(CLUTTER_PROBABILITY, (n, slots)),
    )


def sample_scenes(count: int, rng: np.random.Generator) -> Scenes:
    """Draws everything random about ``count`` images, in a fixed order, from ``rng``."""
    draw = _Draws(rng)
    n = count
    labels = _balanced_labels(draw, n)
    radius = draw.uniform(*RADIUS_PX, n)
    margin = INSIDE_FRACTION * radius
    centre_x = margin + (IMAGE_SIZE - 2 * margin) * draw.uniform(0.0, 1.0, n)
    centre_y = margin + (IMAGE_SIZE - 2 * margin) * draw.uniform(0.0, 1.0, n)
    angle = draw.integers(0, 360, n)
    mirror = np.where(draw.chance(0.5, n), -1.0, 1.0)
    foreground = draw.integers(0, 256, (n, 3)).astype(np.float64)
    background, background_2 = _contrasting_colours(draw, foreground)
    return Scenes(
        labels=labels,
        centre_x=centre_x,
        centre_y=centre_y,
        radius=radius,
        angle=angle,
        mirror=mirror,
        foreground=foreground,
        background=background,
        background_2=background_2,
        texture=draw.integers(0, len(TEXTURES), n),
        texture_angle=draw.integers(0, 360, n),
        texture_period=draw.uniform(*TEXTURE_PERIOD_PX, n),
        texture_phase=draw.uniform(0.0, 2.0, (n, 2)),
        texture_sharpness=draw.uniform(1.0, 4.0, n),
        blotches=draw.uniform(0.0, 1.0, (n, BLOTCH_GRID, BLOTCH_GRID)),
        lines=_clutter(draw, n, LINE_SLOTS_UNDER + LINE_SLOTS_OVER, LINE_HALF_WIDTH_PX),
        dots=_clutter(draw, n, DOT_SLOTS_UNDER + DOT_SLOTS_OVER, DOT_RADIUS_PX),
        noise=draw.uniform(-0.5, 0.5, (n, 3, IMAGE_SIZE, IMAGE_SIZE))
        + draw.uniform(-0.5, 0.5, (n, 3, IMAGE_SIZE, IMAGE_SIZE)),
        noise_amplitude=draw.uniform(*NOISE_AMPLITUDE, n),
    )


# Pixel centres, shaped to broadcast against (n, 1, 1) per-image values.
_PX = np.arange(IMAGE_SIZE, dtype=np.float64)[None, None, :] + 0.5
_PY = np.arange(IMAGE_SIZE, dtype=np.float64)[None, :, None] + 0.5


def _column(values: np.ndarray) -> np.ndarray:
    """(n,) -> (n, 1, 1), to broadcast against images."""
    return values[:, None, None]


def _wrap2(w: np.ndarray) -> np.ndarray:
    """w modulo 2, in [0, 2)."""
    return w - 2.0 * np.floor(w / 2.0)


def _texture_weight(scenes: Scenes) -> np.ndarray:
    """How much of the second background colour each pixel shows, 0..1, shape (n, 32, 32)."""
    n = len(scenes)
    weight = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE))
    cos, sin = COS_TABLE[scenes.texture_angle], SIN_TABLE[scenes.texture_angle]
    for kind, name in enumerate(TEXTURES):
        pick = scenes.texture == kind
        if name == "flat" or not pick.any():
            continue
        c, s = _column(cos[pick]), _column(sin[pick])
        along = _PX * c + _PY * s
        period = _column(scenes.texture_period[pick])
        phase = scenes.texture_phase[pick]
        if name == "gradient":
            # A ramp over 2.5 to 8 periods' length, centred on the image.
            centred = (_PX - IMAGE_SIZE / 2) * c + (_PY - IMAGE_SIZE / 2) * s
            weight[pick] = np.clip(0.5 + centred / (period * 6.0), 0.0, 1.0)
        elif name == "stripes":
            triangle = np.abs(_wrap2(along / period + _column(phase[:, 0])) - 1.0)
            sharp = _column(scenes.texture_sharpness[pick])
            weight[pick] = np.clip((triangle - 0.5) * sharp + 0.5, 0.0, 1.0)
        elif name == "checks":
            across = _PY * c - _PX * s
            cells = np.floor(along / period + _column(phase[:, 0])) + np.floor(
                across / period + _column(phase[:, 1])
            )
            weight[pick] = _wrap2(cells) / 2.0 >= 0.5
        elif name == "blotches":
            weight[pick] = _blotches(scenes.blotches[pick])
    return weight


def _blotches(grid: np.ndarray) -> np.ndarray:
    """A coarse random grid, bilinearly stretched to the image and its contrast doubled."""
    cells = grid.shape[1] - 1
    pos = (np.arange(IMAGE_SIZE, dtype=np.float64) + 0.5) * (cells / IMAGE_SIZE)
    i0 = np.minimum(np.floor(pos).astype(np.int64), cells - 1)
    f = pos - i0
    top = grid[:, i0, :] * (1.0 - f)[None, :, None] + grid[:, i0 + 1, :] * f[None, :, None]
    smooth = top[:, :, i0] * (1.0 - f)[None, None, :] + top[:, :, i0 + 1] * f[None, None, :]
    return np.clip((smooth - 0.5) * 2.0 + 0.5, 0.0, 1.0)


def _shape_coverage(scenes: Scenes) -> np.ndarray:
    """Fraction of each pixel the shape covers, 0..1, shape (n, 32, 32)."""
    coverage = np.empty((len(scenes), IMAGE_SIZE, IMAGE_SIZE))
    for label in range(NUM_CLASSES):
        pick = scenes.labels == label
        if not pick.any():
            continue
        angle = scenes.angle[pick]
        c, s = _column(COS_TABLE[angle]), _column(SIN_TABLE[angle])
        radius = _column(scenes.radius[pick])
        scale = 1.0 / radius
        dx, dy = _PX - _column(scenes.centre_x[pick]), _PY - _column(scenes.centre_y[pick])
        u = (dx * c + dy * s) * (scale * _column(scenes.mirror[pick]))
        v = (dy * c - dx * s) * scale
        # A box filter over the pixel, to first order: half covered on the outline.
        coverage[pick] = np.clip(0.5 - signed_distance(label, u, v) * radius, 0.0, 1.0)
    return coverage


def _paint(image: np.ndarray, colour: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Lays ``colour`` (n, 3) over ``image`` (n, 3, H, W) where ``coverage`` (n, H, W) says."""
    return image + (colour[:, :, None, None] - image) * coverage[:, None, :, :]


def _paint_lines(image: np.ndarray, lines: Clutter, slots: range) -> np.ndarray:
    for k in slots:
        c, s = _column(COS_TABLE[lines.angle[:, k]]), _column(SIN_TABLE[lines.angle[:, k]])
        dx, dy = _PX - _column(lines.x[:, k]), _PY - _column(lines.y[:, k])
        half_width = _column(lines.size[:, k])
        across = np.abs(dy * c - dx * s)
        along = np.abs(dx * c + dy * s)
        # A line thinner than a pixel never covers one fully.
        coverage = np.clip(np.minimum(half_width + 0.5 - across, 2.0 * half_width), 0.0, 1.0) * np.clip(
            _column(lines.half_length[:, k]) + 0.5 - along, 0.0, 1.0
        )
        image = _paint(image, lines.colour[:, k], coverage * _column(lines.present[:, k]))
    return image


def _paint_dots(image: np.ndarray, dots: Clutter, slots: range) -> np.ndarray:
    for k in slots:
        dx, dy = _PX - _column(dots.x[:, k]), _PY - _column(dots.y[:, k])
        radius = _column(dots.size[:, k])
        distance = np.sqrt(dx * dx + dy * dy)
        coverage = np.clip(np.minimum(radius + 0.5 - distance, 2.0 * radius), 0.0, 1.0)
        image = _paint(image, dots.colour[:, k], coverage * _column(dots.present[:, k]))
    return image


def render_scenes(scenes: Scenes) -> np.ndarray:
    """The images of ``scenes``: (n, 3, 32, 32) uint8, channels R, G, B."""
    weight = _texture_weight(scenes)
    base = scenes.background[:, :, None, None]
    image = base + (scenes.background_2[:, :, None, None] - base) * weight[:, None, :, :]
    image = _paint_lines(image, scenes.lines, range(LINE_SLOTS_UNDER))
    image = _paint_dots(image, scenes.dots, range(DOT_SLOTS_UNDER))
    image = _paint(image, scenes.foreground, _shape_coverage(scenes))
    image = _paint_lines(image, scenes.lines, range(LINE_SLOTS_UNDER, LINE_SLOTS_UNDER + LINE_SLOTS_OVER))
    image = _paint_dots(image, scenes.dots, range(DOT_SLOTS_UNDER, DOT_SLOTS_UNDER + DOT_SLOTS_OVER))
    image = image + scenes.noise * scenes.noise_amplitude[:, None, None, None]
    return np.clip(np.rint(image), 0.0, 255.0).astype(np.uint8)


def _seed_words(seed: int | Sequence[int]) -> list[int]:
    return [int(seed)] if isinstance(seed, int | np.integer) else [int(word) for word in seed]


def render_images(count: int, seed: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images and their labels, the same bytes for the same seed on every machine.

    Images come in chunks of CHUNK, each from its own PCG64 stream seeded by ``(*seed, chunk)``,
    so memory stays small and any chunk can be regenerated alone. Labels are balanced per chunk.
    Returns images (count, 3, 32, 32) uint8 and labels (count,) int64.
    """
    words = _seed_words(seed)
    images, labels = [], []
    for chunk, start in enumerate(range(0, count, CHUNK)):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([*words, chunk])))
        scenes = sample_scenes(min(CHUNK, count - start), rng)
        images.append(render_scenes(scenes))
        labels.append(scenes.labels)
    if not images:
        return np.zeros((0, 3, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros(0, np.int64)
    return np.concatenate(images), np.concatenate(labels)
