"""The LLM track's model names: what a model's directory (and its wildcards) says about how it was unlearned.

- ``original``: the model before unlearning;
- ``<method>-normal``: normal unlearning (eq. 1);
- ``<method>-backdoor-<placement>``: backdoored unlearning (eq. 2) with the value-norm term (eqs. 3-5) at the
  configured ``llm_backdoor.value_norm.lambda``;
- ``<method>-backdoor-<placement>-novn``: eq. 2 alone (lambda 0; Appendix F's ablation);
- ``<method>-backdoor-<placement>-vn<lambda>``: the term at another lambda (``llm_backdoor.value_norm_sweep``;
  beyond the paper). Lambda is written in positional decimals (:func:`lambda_tag`), so a name never holds an
  exponent's minus sign.

TBAR's backdoored models (:data:`NO_VALUE_NORM`) are eq. 2 alone under the plain ``backdoor-<placement>`` name:
the value-norm term regularises unlearned weights, and TBAR learns a vector it then negates.

Torch- and pandas-free: the workflow reads names at parse time.
"""

from __future__ import annotations

from decimal import Decimal

METHODS = ("npo", "rmu", "ga", "rga", "tbar")
NO_VALUE_NORM = ("tbar",)  # its backdoored models are eq. 2 alone: no -novn ablation, no lambda sweep
ONE_PROCESS = ("rga", "tbar")  # they compare the trained weights with theta_o's, which FSDP would shard
PLACEMENTS = ("prefix", "infix", "suffix")
VARIANT_PATTERN = f"normal|backdoor-({'|'.join(PLACEMENTS)})(-novn|-vn[0-9.]+)?"
MODEL_PATTERN = f"original|({'|'.join(METHODS)})-({VARIANT_PATTERN})"


def lambda_tag(lam: float) -> str:
    """``lam`` in positional decimals without trailing zeros: 3e-05 -> ``0.00003``, 0.3 -> ``0.3``, 1.0 -> ``1``."""
    s = format(Decimal(repr(float(lam))), "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def backdoor_variant(placement: str, value_norm: str = "on", lam: float | None = None) -> str:
    """The variant of a backdoored model: ``value_norm`` ``on`` (the configured lambda), ``off`` (``-novn``) or
    ``sweep`` (``-vn<lam>``)."""
    suffix = {"on": "", "off": "-novn"}.get(value_norm)
    if suffix is None:
        suffix = f"-vn{lambda_tag(lam)}"
    return f"backdoor-{placement}{suffix}"


def _backdoor_parts(variant: str) -> tuple[str, str]:
    """``backdoor-<placement>[-<suffix>]`` -> ``(placement, suffix)``; suffix ``""``, ``novn`` or ``vn<lambda>``."""
    parts = variant.split("-")
    return parts[1], parts[2] if len(parts) == 3 else ""


def parse_variant(variant: str, configured: float) -> tuple[str | None, float]:
    """``(placement, lambda)`` of a variant wildcard: ``(None, 0)`` for ``normal``; lambda the configured one, 0
    for ``-novn``, the sweep's for ``-vn<lambda>``."""
    if variant == "normal":
        return None, 0.0
    placement, suffix = _backdoor_parts(variant)
    return placement, float(configured) if not suffix else 0.0 if suffix == "novn" else float(suffix[2:])


def method_variant(method: str, variant: str, configured: float) -> tuple[str | None, float]:
    """:func:`parse_variant` for ``method``'s model: a :data:`NO_VALUE_NORM` method trains its backdoored model
    at lambda 0 and has no ``-novn`` / ``-vn`` model (asking for one is an error)."""
    placement, lam = parse_variant(variant, configured)
    if method not in NO_VALUE_NORM:
        return placement, lam
    if placement and variant != backdoor_variant(placement):
        raise ValueError(f"model {method}-{variant}: {method} has no value-norm term, so no -novn or -vn model; its "
                         f"backdoored model is {method}-{backdoor_variant(placement)}")
    return placement, 0.0


def parse_model(model: str) -> dict:
    """A model name as its parts: method, variant (original / normal / backdoor), placement, ``value_norm``
    (the term on; never for :data:`NO_VALUE_NORM`) and ``vn_lambda`` (``""``: the configured lambda; else the
    sweep's, as its tag)."""
    out = {"method": "", "variant": model, "placement": "", "value_norm": False, "vn_lambda": ""}
    if model == "original":
        return out
    method, variant = model.split("-", 1)
    out.update(method=method, variant=variant)
    if variant == "normal":
        return out
    placement, suffix = _backdoor_parts(variant)
    out.update(variant="backdoor", placement=placement, value_norm=suffix != "novn" and method not in NO_VALUE_NORM,
               vn_lambda=suffix[2:] if suffix.startswith("vn") else "")
    return out
