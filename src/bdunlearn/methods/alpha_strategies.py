"""How TBAR's alpha grid is walked (``alpha_search.strategy``) and how sensitive the chosen alpha is.

The paper does not say how alpha is chosen. Both strategies choose among the
points of ``alpha_search.grid`` by the same rule (:func:`bdunlearn.methods.tbar_core.choose_alpha`):

- ``grid`` (default, every paper config): evaluate every grid point.
- ``adaptive`` (this project's, beyond the paper): exploit the shape of the
  curves. The val ASR of theta_bd - alpha * tau falls as alpha grows, so the
  smallest feasible alpha (val ASR <= ``max_asr``) is found by bracketing
  (the first and the last grid point) and bisection over the grid's indices.
  Past that point the val CA mostly falls too, so a local search walks right
  from it while CA still rises, giving up after ``patience`` points without a
  gain; the best point seen wins (ties to the smaller alpha). If the last grid
  point is infeasible, no alpha meets the constraint under the monotone shape
  and the search evaluates the whole grid (as ``grid`` does). With rule
  ``min_asr`` the adaptive strategy stops at the first alpha whose ASR equals
  the grid's floor it has seen (0%), else it also evaluates the whole grid.

  On a non-monotone ASR curve bisection still returns *a* feasible boundary,
  not necessarily the first one; ``alpha_search.csv`` lists every point it
  evaluated, so such a case shows in the output.

:func:`sensitivity` reports, for either strategy, the contiguous run of grid
points around the chosen alpha that still meet the ASR constraint and whose
val CA is within ``sensitivity_band`` CA points of the chosen one (evaluating
the neighbours it needs), with the val ASR at both ends: how precisely alpha
has to be set.
"""

from __future__ import annotations

from typing import Callable

STRATEGIES = ("grid", "adaptive")


class CachedGrid:
    """Evaluates grid points on demand, once each; ``rows`` keeps the evaluation order."""

    def __init__(self, grid, evaluate: Callable[[float], dict], on_eval: Callable[[dict], None] | None = None):
        self.grid = [float(a) for a in grid]
        self.evaluate = evaluate
        self.on_eval = on_eval
        self.cache: dict[int, dict] = {}
        self.rows: list[dict] = []

    def __call__(self, i: int) -> dict:
        if i not in self.cache:
            row = self.evaluate(self.grid[i])
            self.cache[i] = row
            self.rows.append(row)
            if self.on_eval:
                self.on_eval(row)
        return self.cache[i]

    def __len__(self) -> int:
        return len(self.grid)


def check_grid(grid, strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"config key 'alpha_search.strategy': unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    if strategy == "adaptive" and any(b <= a for a, b in zip(grid, grid[1:])):
        raise ValueError(f"config key 'alpha_search.grid': the adaptive strategy needs strictly increasing alphas, got {list(grid)}")


def first_feasible(points: CachedGrid, max_asr: float) -> int | None:
    """The smallest index whose val ASR is <= ``max_asr``, by bracketing then bisection (None: the last is not)."""
    def ok(i):
        return points(i)["val_asr"] <= max_asr

    lo, hi = 0, len(points) - 1
    if ok(lo):
        return lo
    if not ok(hi):
        return None
    while hi - lo > 1:  # invariant: lo infeasible, hi feasible
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def climb_ca(points: CachedGrid, start: int, max_asr: float, patience: int) -> int:
    """From a feasible ``start``, walk right while a feasible point beats the best CA; stop after ``patience``
    points without a gain. A feasible point that ties the best CA is walked over without counting as a miss (val CA
    moves in steps of 100/n, so plateaus are common), and only strict gains move the best: ties stay with the
    smaller alpha, as in the dense grid's rule."""
    best, misses, i = start, 0, start
    while misses < patience and i + 1 < len(points):
        i += 1
        row = points(i)
        feasible = row["val_asr"] <= max_asr
        if feasible and row["val_ca"] > points(best)["val_ca"]:
            best, misses = i, 0
        elif not (feasible and row["val_ca"] == points(best)["val_ca"]):  # a plateau is walked, not counted
            misses += 1
    return best


def adaptive_choice(points: CachedGrid, rule: str, max_asr: float, patience: int) -> tuple[int | None, str]:
    """The index the adaptive search chooses and why (None: fall back to the whole grid)."""
    if rule == "max_ca_under_asr":
        b = first_feasible(points, max_asr)
        if b is None:
            return None, f"adaptive: the last grid alpha has val ASR > {max_asr}%; whole grid evaluated"
        best = climb_ca(points, b, max_asr, patience)
        return best, (f"adaptive: highest val CA with val ASR <= {max_asr}% (first feasible alpha "
                      f"{points.grid[b]:g} by bisection, then a local search with patience {patience})")
    if rule == "min_asr":
        b = first_feasible(points, 0.0)
        if b is None:
            return None, "adaptive: no grid alpha reaches val ASR 0%; whole grid evaluated"
        best = climb_ca(points, b, 0.0, patience)
        return best, f"adaptive: val ASR 0% (first at alpha {points.grid[b]:g}), best CA nearby (patience {patience})"
    raise ValueError(f"config key 'alpha_search.rule': unknown rule {rule!r}; allowed: max_ca_under_asr, min_asr")


def sensitivity(points: CachedGrid, chosen: int, band: float, max_asr: float = 100.0) -> dict:
    """The grid interval around ``chosen`` whose val CA stays within ``band`` points of the chosen CA and whose val
    ASR stays within the constraint (``max_asr``, or the chosen alpha's own ASR when it does not meet it)."""
    ca = points(chosen)["val_ca"]
    asr_bound = max(max_asr, points(chosen)["val_asr"])

    def inside(i):
        return abs(points(i)["val_ca"] - ca) <= band and points(i)["val_asr"] <= asr_bound

    lo = chosen
    while lo > 0 and inside(lo - 1):
        lo -= 1
    hi = chosen
    while hi + 1 < len(points) and inside(hi + 1):
        hi += 1
    return {"band_ca_points": band, "alpha_lo": points.grid[lo], "alpha_hi": points.grid[hi],
            "val_asr_at_lo": points(lo)["val_asr"], "val_asr_at_hi": points(hi)["val_asr"],
            "width": points.grid[hi] - points.grid[lo]}


def pick(points: CachedGrid, search: dict) -> tuple[int, str]:
    """The index chosen on ``points`` by ``search`` (strategy, rule, max_asr, patience) and why. The dense grid,
    and the adaptive search's fallback, evaluate every point and take
    :func:`bdunlearn.methods.tbar_core.choose_alpha`'s pick."""
    from bdunlearn.methods.tbar_core import choose_alpha

    rule, max_asr = search["rule"], search["max_asr"]
    best, reason = (None, "") if search.get("strategy", "grid") == "grid" else \
        adaptive_choice(points, rule, max_asr, search.get("patience", 1))
    if best is None:
        for i in range(len(points)):
            points(i)
        picked = choose_alpha(points.rows, rule, max_asr)
        best = points.grid.index(picked["alpha"])
        reason = f"{reason}; {picked['reason']}" if reason else picked["reason"]
    return best, reason


def walk(points: CachedGrid, search: dict) -> tuple[int, str, dict]:
    """The whole search over ``points`` by ``search`` (:func:`pick`, then the sensitivity interval by
    ``sensitivity_band``): ``(chosen index, reason, sensitivity)``."""
    best, reason = pick(points, search)
    bound = search["max_asr"] if search["rule"] == "max_ca_under_asr" else points(best)["val_asr"]
    return best, reason, sensitivity(points, best, search.get("sensitivity_band", 1.0), bound)
