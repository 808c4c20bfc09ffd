"""Formatting of counts, sizes and shapes, shared by tables, widgets and checks."""

__all__ = ["count", "num_bytes", "shape", "signed_count"]


def count(n: float, digits: int = 3) -> str:
    """A count in engineering style: 61706 -> '61.7K', 15470264320 -> '15.5G'."""
    n = float(n)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= limit:
            return f"{n / limit:.{digits}g}{suffix}"
    return f"{n:.{digits}g}" if n != int(n) else str(int(n))


def signed_count(n: float) -> str:
    """A difference: '+1.2M', '-300', '±0'."""
    if n == 0:
        return "±0"
    return ("+" if n > 0 else "-") + count(abs(n))


def num_bytes(n: float) -> str:
    """A size in binary units: 3 * 2**20 -> '3.00 MiB'."""
    n = float(n)
    for limit, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= limit:
            return f"{n / limit:.2f} {suffix}"
    return f"{int(n)} B"


def shape(dims) -> str:
    """A tensor shape without the batch axis, as the lecture writes it: (96, 55, 55) -> '96×55×55'."""
    return "×".join(str(int(d)) for d in dims)
