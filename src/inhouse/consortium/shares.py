"""Revenue shares from token counts, in whole currency units, exactly reproducible: integer arithmetic only."""

from __future__ import annotations

from fractions import Fraction


def revenue_shares(tokens: dict[str, int], revenue: int) -> dict[str, int]:
    """`revenue` (whole units) split in proportion to each partner's `tokens` by the largest-remainder method:
    every partner gets the floor of its exact share, and the units left go one each to the largest remainders
    (ties to the partner name first in order). The shares sum to `revenue` exactly; partners with no tokens get
    0. The same inputs always give the same shares."""
    if revenue < 0:
        raise ValueError("revenue must not be negative")
    total = sum(t for t in tokens.values() if t > 0)
    if total == 0:
        return {p: 0 for p in tokens}
    exact = {p: Fraction(revenue * max(t, 0), total) for p, t in tokens.items()}
    out = {p: int(x) for p, x in exact.items()}  # floor: the values are non-negative
    left = revenue - sum(out.values())
    for p in sorted(exact, key=lambda p: (-(exact[p] - out[p]), p))[:left]:
        out[p] += 1
    return out
