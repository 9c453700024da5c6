"""Benchmark: seconds per alpha of TBAR's grid search against one plain evaluation pass.

One alpha step of ``search_alpha`` writes theta_bd - alpha * tau into the live
weights in place and evaluates the clean and the triggered validation sets
(decoded once, before the loop). The reference is one plain evaluation pass of
the same model over the same (decoded) val sets. Target: per-alpha time at most
1.3x the plain pass. The naive alternative (reload weights and decode the val
Parquet files for every alpha) is timed too, for context.

Models are open_clip architectures with random weights (timing does not depend
on the values), so the benchmark needs no hub access:

    python bench/bench_alpha_search.py --arch bdclip-tiny --resolution 32 --n-val 400 --out docs/benchmarks.md
    python bench/bench_alpha_search.py --arch ViT-B-32 --n-val 5000 --out docs/benchmarks.md   # paper scale
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bdunlearn import attacks  # noqa: E402
from bdunlearn.attacks.image import to_float, to_uint8  # noqa: E402
from bdunlearn.data.io import encode_png, load_weights, save_weights  # noqa: E402
from bdunlearn.methods.tbar_core import AlphaEvaluator  # noqa: E402
from bdunlearn.models.clip_adapter import ClipClassifier, load_image_split  # noqa: E402
from bdunlearn.models.open_clip_models import create_clip  # noqa: E402
from bdunlearn.models.training import predict  # noqa: E402
from bdunlearn.workflow.runtime import pick_device  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    out = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def machine(device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {torch.get_num_threads()} torch threads"
    if device.type == "cuda":
        desc = f"{torch.cuda.get_device_name(device)} (host: {desc})"
    return desc


def write_section(path: Path, title: str, body: str) -> None:
    """Replace (or append) the section headed ``## title`` in ``path``."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\nRun on demand; never part of the test suite.\n"
    head = f"## {title}\n"
    parts = text.split("\n## ")
    kept = [parts[0]] + [p for p in parts[1:] if not ("## " + p).startswith(head.rstrip("\n"))]
    text = "\n## ".join(kept).rstrip("\n") + "\n\n" + head + body
    path.write_text(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="bdclip-tiny")
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--n-val", type=int, default=400, help="clean val images (the triggered set has 90%% of this)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--alphas", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="Markdown file to write the result section into")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = pick_device(args.device)
    clip, spec = create_clip(args.arch, resolution=args.resolution)
    res = spec.resolution
    head = torch.nn.functional.normalize(torch.randn(args.classes, clip.text_projection.shape[1] if clip.text_projection is not None else 512), dim=1) * 100
    model = ClipClassifier(clip.visual, head, spec.mean, spec.std)
    del clip
    n_trig = int(args.n_val * 0.9)
    rng = np.random.default_rng(0)
    val_x = torch.from_numpy(rng.integers(0, 256, (args.n_val, 3, res, res), dtype=np.uint8))
    val_y = torch.from_numpy(rng.integers(1, args.classes, args.n_val))
    trig_x = to_uint8(attacks.get("badnet").build(0, res)(to_float(val_x[:n_trig]), range(n_trig)))
    trig_y = val_y[:n_trig]
    bd = {k: v.clone() for k, v in model.editable_state().items()}
    tau = {k: 1e-3 * torch.randn_like(v) for k, v in bd.items()}
    ev = AlphaEvaluator(model, bd, tau, (val_x, val_y), (trig_x, trig_y), target=0, device=device, batch_size=args.batch_size)

    def plain_pass():
        predict(model, val_x, device, args.batch_size)
        predict(model, trig_x, device, args.batch_size)

    plain_pass()  # warm-up (kernels, allocator)
    plain = timed(plain_pass, device, args.repeats)
    grid = np.linspace(0.0, 2.0, args.alphas)
    per_alpha = []
    for a in grid:
        sync(device)
        t0 = time.perf_counter()
        ev(float(a))
        sync(device)
        per_alpha.append(time.perf_counter() - t0)
    alpha_s = statistics.median(per_alpha)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, x, y in (("val", val_x, val_y), ("trig", trig_x, trig_y)):
            pd.DataFrame({"image": [encode_png(a) for a in x.permute(0, 2, 3, 1).numpy()], "label": y.numpy()}).to_parquet(tmp / f"{name}.parquet")
        save_weights(bd, tmp / "bd.safetensors")

        def naive_step():  # what a loop without in-place edits and pre-decoding would do per alpha
            model.visual.load_state_dict(load_weights(tmp / "bd.safetensors"))
            for name in ("val", "trig"):
                x, _ = load_image_split(tmp / f"{name}.parquet")
                predict(model, x, device, args.batch_size)

        naive = timed(naive_step, device, max(1, args.repeats // 2))

    ratio = alpha_s / plain
    verdict = "meets" if ratio <= 1.3 else "misses"
    cmd = "python bench/bench_alpha_search.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a)
    body = (
        f"Command: `{cmd}`  \n"
        f"Machine: {machine(device)}; torch {torch.__version__}; date {dt.date.today().isoformat()}  \n"
        f"Model: {args.arch} at {res} px; val set {args.n_val} clean + {n_trig} triggered images; {args.alphas} alphas.\n\n"
        "| measurement | seconds |\n|---|---:|\n"
        f"| one plain evaluation pass (clean + triggered val, decoded) | {plain:.4f} |\n"
        f"| one alpha of search_alpha (in-place edit + the same evaluation) | {alpha_s:.4f} |\n"
        f"| one alpha, naive (reload weights + decode Parquet + evaluate) | {naive:.4f} |\n\n"
        f"Ratio per alpha / plain pass: **{ratio:.3f}x** (target <= 1.3x: {verdict}); naive / plain: {naive / plain:.2f}x.\n"
    )
    print(body)
    if args.out:
        write_section(args.out, f"Alpha search: {args.arch} on {device.type}", body)


if __name__ == "__main__":
    main()
