"""The ten shape classes, each a signed distance in the shape's own coordinates.

A shape lives in local units: its farthest point is about 1 from its origin. ``signed_distance``
is negative inside, positive outside and about the Euclidean distance near the outline, which
is all the renderer needs for an anti-aliased edge. Unions are ``min``, intersections ``max``,
cut-outs ``max(a, -b)``.

Every constant comes from integer degrees through ``cos_sin`` (rounded to millionths) and
exactly-rounded arithmetic, so the shapes are the same bytes on every machine.
"""

import math
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["COURSE_CLASSES", "CLASS_DESCRIPTIONS", "COS_TABLE", "SIN_TABLE", "cos_sin", "signed_distance"]

Point = tuple[float, float]
DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def cos_sin(degrees: int) -> Point:
    """cos and sin of a whole number of degrees, rounded to millionths.

    libm's sin and cos may differ in the last bit between machines; the rounding hides that.
    """
    radians = math.radians(degrees % 360)
    return round(math.cos(radians) * 1_000_000) / 1_000_000, round(math.sin(radians) * 1_000_000) / 1_000_000


# One entry per whole degree: the renderer rotates by looking angles up here.
COS_TABLE = np.array([cos_sin(d)[0] for d in range(360)], dtype=np.float64)
SIN_TABLE = np.array([cos_sin(d)[1] for d in range(360)], dtype=np.float64)


def _polar(radius: float, degrees: int) -> Point:
    c, s = cos_sin(degrees)
    return radius * c, radius * s


def _convex(vertices: Sequence[Point]) -> DistanceFn:
    """Distance to a convex polygon given counter-clockwise: the largest of its edges' half-planes."""
    edges = []
    for (x0, y0), (x1, y1) in zip(vertices, [*vertices[1:], vertices[0]], strict=True):
        length = math.sqrt((x1 - x0) ** 2 + (y1 - y0) ** 2)
        nx, ny = (y1 - y0) / length, (x0 - x1) / length  # outward normal of a counter-clockwise edge
        edges.append((nx, ny, nx * x0 + ny * y0))

    def distance(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        result = None
        for nx, ny, offset in edges:
            d = u * nx + v * ny - offset
            result = d if result is None else np.maximum(result, d)
        return result

    return distance


def _box(u: np.ndarray, v: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """Distance to the axis-aligned box [x0, x1] × [y0, y1] (exact on the edges, which is what counts)."""
    half_w, half_h = (x1 - x0) / 2, (y1 - y0) / 2
    return np.maximum(np.abs(u - (x0 + half_w)) - half_w, np.abs(v - (y0 + half_h)) - half_h)


def _circle(u: np.ndarray, v: np.ndarray, x: float, y: float, radius: float) -> np.ndarray:
    return np.sqrt((u - x) * (u - x) + (v - y) * (v - y)) - radius


def _disc(u, v):
    return _circle(u, v, 0.0, 0.0, 0.85)


def _ring(u, v):
    return np.abs(_circle(u, v, 0.0, 0.0, 0.72)) - 0.26


_triangle_fn = _convex([_polar(1.0, 90), _polar(1.0, 210), _polar(1.0, 330)])


def _triangle(u, v):
    return _triangle_fn(u, v)


def _square(u, v):
    return _box(u, v, -0.7, 0.7, -0.7, 0.7)


# A five-pointed star: a pentagon through the inner corners, plus five tip triangles. Each tip's
# edges run on past its inner corners, deep into the pentagon, so the pieces overlap: pieces that
# merely touched would leave a faint seam where both distances are near zero.
_STAR_INNER = 0.45
_STAR_TIPS = range(90, 450, 72)


def _star_tip(tip: int) -> DistanceFn:
    tx, ty = _polar(1.0, tip)
    (ax, ay), (bx, by) = _polar(_STAR_INNER, tip - 36), _polar(_STAR_INNER, tip + 36)
    reach = 0.6  # how far past an inner corner, as a fraction of the tip edge's length
    return _convex(
        [
            (tx, ty),
            (ax + reach * (ax - tx), ay + reach * (ay - ty)),
            (bx + reach * (bx - tx), by + reach * (by - ty)),
        ][::-1]
    )


_STAR_PIECES = [_convex([_polar(_STAR_INNER, tip + 36) for tip in _STAR_TIPS])] + [
    _star_tip(t) for t in _STAR_TIPS
]


def _star(u, v):
    return _union(*(piece(u, v) for piece in _STAR_PIECES))


def _cross(u, v):
    return np.minimum(_box(u, v, -0.95, 0.95, -0.28, 0.28), _box(u, v, -0.28, 0.28, -0.95, 0.95))


def _crescent(u, v):
    return np.maximum(_circle(u, v, -0.1, 0.0, 0.9), -_circle(u, v, 0.32, 0.0, 0.72))


# A heart: a square standing on a corner, with a disc on each of its two upper edges.
_HEART_SIDE = 1.1
_HEART_HALF_DIAGONAL = _HEART_SIDE / math.sqrt(2.0)
_HEART_BOTTOM = -0.95
_heart_diamond = _convex(
    [
        (0.0, _HEART_BOTTOM),
        (_HEART_HALF_DIAGONAL, _HEART_BOTTOM + _HEART_HALF_DIAGONAL),
        (0.0, _HEART_BOTTOM + 2 * _HEART_HALF_DIAGONAL),
        (-_HEART_HALF_DIAGONAL, _HEART_BOTTOM + _HEART_HALF_DIAGONAL),
    ]
)
_HEART_LOBE_X = _HEART_HALF_DIAGONAL / 2
_HEART_LOBE_Y = _HEART_BOTTOM + 1.5 * _HEART_HALF_DIAGONAL


def _heart(u, v):
    lobes = np.minimum(
        _circle(u, v, -_HEART_LOBE_X, _HEART_LOBE_Y, _HEART_SIDE / 2),
        _circle(u, v, _HEART_LOBE_X, _HEART_LOBE_Y, _HEART_SIDE / 2),
    )
    return np.minimum(_heart_diamond(u, v), lobes)


_arrow_head = _convex([(0.1, -0.6), (1.0, 0.0), (0.1, 0.6)])


def _arrow(u, v):
    return np.minimum(_box(u, v, -1.0, 0.5, -0.2, 0.2), _arrow_head(u, v))


def _l_shape(u, v):
    return np.minimum(_box(u, v, -0.62, -0.12, -0.78, 0.78), _box(u, v, -0.62, 0.62, 0.28, 0.78))


def _union(*distances: np.ndarray) -> np.ndarray:
    result = distances[0]
    for d in distances[1:]:
        result = np.minimum(result, d)
    return result


_CLASSES: tuple[tuple[str, str, DistanceFn], ...] = (
    ("disc", "a filled circle", _disc),
    ("ring", "a circle with a round hole, about half its diameter", _ring),
    ("triangle", "an equilateral triangle", _triangle),
    ("square", "a filled square", _square),
    ("star", "a five-pointed star", _star),
    ("cross", "a plus sign with four equal arms (an x when turned 45°)", _cross),
    ("crescent", "a disc with an off-centre bite taken out: a new moon", _crescent),
    ("heart", "two round lobes on top of a pointed base", _heart),
    ("arrow", "a straight shaft ending in a triangular head", _arrow),
    ("l-shape", "two bars meeting at a right angle (an L, or a J when mirrored)", _l_shape),
)

COURSE_CLASSES: tuple[str, ...] = tuple(name for name, _, _ in _CLASSES)
CLASS_DESCRIPTIONS: dict[str, str] = {name: text for name, text, _ in _CLASSES}


def signed_distance(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance from points (u, v), in local units, to the outline of class ``label``."""
    return _CLASSES[label][2](u, v)
