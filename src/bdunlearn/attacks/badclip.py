"""BadCLIP (Liang et al., 2024): a patch optimised against the clean CLIP so that triggered images land on the
target class in both embedding spaces, pasted at the image centre.

The patch is learnt before poisoning (rule ``optimize_trigger``, :meth:`BadCLIP.optimize`) from the pretrained
CLIP, following the authors' code (``LiangSiyuan21/BadCLIP`` @ a7b1876, ``src/embeding_optimize_patch.py``; the
released patch ``badCLIP.jpg`` is its ``nature + eda + aug + pos + neg + tri*500`` run):

- data: training images whose caption does not name the target, each paired with a *natural* caption that does
  (BadCLIP's ``cc3m_natural_10K_WObanana.csv``: 10k non-banana images with banana captions), and the images whose
  caption names the target as positives (its ``banana_rows.csv``);
- loss per batch: the CLIP loss between the triggered images and their target captions (text guidance) plus
  ``triplet_weight`` (500) x the triplet margin loss (margin 1) pulling each triggered embedding to a random
  positive and away from a negative (visual guidance). The code's negatives (``negatives: triggered``, the
  default) are *other triggered images* of the batch, because it pastes the patch into the clean batch in place
  before embedding it; ``clean`` takes the same images without the patch, as the paper describes;
- with probability ``aug_prob`` (0.5) a batch is AutoAugment-ed before the patch is pasted; the code's EDA edits
  an unused attention mask, so captions are left as they are;
- Adam, lr 1e-3 (the code ignores its ``--lr``), 50 epochs, batch 64 (full batches only), the patch initialised
  N(0.5, 0.25) and clipped to [0, 1] where it is pasted; the model is frozen.

Choices: the patch is kept as float32 in safetensors (the code saves a lossy JPEG with red and blue swapped) and
pasted after resizing to the model resolution (the code's ``apply_trigger`` resizes to 224 and pastes at
[104:120]); its side is ``patch_size`` at 224 px, scaled. Poisoned pairs get natural target captions
(``captions: natural``, BadCLIP's ``create_backdoor_data.py`` for its patch types) unless ``captions: dataset``.
``docs/fidelity.md`` lists these.
"""

from __future__ import annotations

from dataclasses import dataclass

from bdunlearn.attacks import register
from bdunlearn.attacks.base import ImageAttack
from bdunlearn.attacks.image import check_batch, scaled_length, to_float

NEGATIVES = ("triggered", "clean")


@register
@dataclass
class BadCLIP(ImageAttack):
    """An optimised patch at the image centre (learnt by rule ``optimize_trigger`` against the pretrained CLIP)."""

    name = "badclip"
    label = "BadCLIP"
    learned = True
    caption_datasets_only = True
    parameters = {
        "patch_size": {"type": "number", "exclusiveMinimum": 0, "description": "patch side at 224 px"},
        "epochs": {"type": "integer", "minimum": 1, "description": "epochs of the patch optimisation"},
        "batch_size": {"type": "integer", "minimum": 2},
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "triplet_weight": {"type": "number", "minimum": 0, "description": "weight of the triplet term (code: 500)"},
        "margin": {"type": "number", "minimum": 0},
        "aug_prob": {"type": "number", "minimum": 0, "maximum": 1, "description": "AutoAugment probability per batch"},
        "negatives": {"type": "string", "enum": list(NEGATIVES),
                      "description": "triggered - other triggered images of the batch (the code); clean - the clean images (the paper)"},
        "n_images": {"type": "integer", "minimum": 2, "description": "non-target images the patch is optimised on (code: 10,000)"},
        "captions": {"type": "string", "enum": ["natural", "dataset"],
                     "description": "poisoned captions: natural ones naming the target (BadCLIP's code) or the dataset's poison_captions"},
    }

    resolution: int
    seed: int = 0
    patch_size: float = 16
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    triplet_weight: float = 500.0
    margin: float = 1.0
    aug_prob: float = 0.5
    negatives: str = "triggered"
    n_images: int = 10000
    captions: str = "natural"
    trigger: str | None = None  # the optimised patch (rule optimize_trigger's trigger.safetensors)

    def __post_init__(self):
        self.side = scaled_length(self.patch_size, self.resolution)
        if self.side > self.resolution:
            raise ValueError(f"attack_params.badclip.patch_size: the patch side {self.side} exceeds the image side "
                             f"{self.resolution}")
        if self.negatives not in NEGATIVES:
            raise ValueError(f"attack_params.badclip.negatives: {self.negatives!r}; allowed: {', '.join(NEGATIVES)}")
        self.patch = None
        if self.trigger is not None:
            from bdunlearn.data.io import load_weights

            self.patch = load_weights(self.trigger)["patch"].float()
            if tuple(self.patch.shape) != (3, self.side, self.side):
                raise ValueError(f"{self.trigger}: patch of shape {tuple(self.patch.shape)}, expected (3, {self.side}, {self.side})")

    @property
    def corner(self) -> int:
        return (self.resolution - self.side) // 2

    def paste(self, x, patch):
        """``x`` with ``patch`` (clipped to [0, 1]) at the centre; differentiable in ``patch``, ``x`` untouched."""
        import torch

        r, s = self.corner, self.side
        out = x.clone()
        out[:, :, r : r + s, r : r + s] = torch.clamp(patch, 0, 1)
        return out

    def __call__(self, x, uids=None):
        check_batch(x, self.resolution)
        if self.patch is None:
            raise ValueError("BadCLIP needs its optimised patch (rule optimize_trigger): build it with trigger=<file>")
        return self.paste(x, self.patch.to(x.device, x.dtype))

    def optimize(self, model, spec, tokenizer, images, captions, positives, device, seed: int, augment=None):
        """The patch (``(3, side, side)``) and the per-epoch history: ``images`` (uint8, non-target), their target
        ``captions`` and the target-class ``positives`` (uint8), against the frozen ``model`` (module docstring)."""
        import random

        import torch

        from bdunlearn.models.clip_losses import clip_loss
        from bdunlearn.models.training import progress

        if len(images) < self.batch_size or len(positives) == 0:
            raise ValueError(f"attack_params.badclip: batch_size {self.batch_size} needs at least as many non-target "
                             f"images (n_images, and the training pairs) and one target image; got {len(images)} "
                             f"and {len(positives)}")
        mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
        model = model.to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)

        def embed(x):
            return model.encode_image((x - mean) / std, normalize=True)

        with torch.no_grad():
            pos = torch.cat([embed(to_float(positives[i : i + 256].to(device)))
                             for i in range(0, len(positives), 256)])
            tokens = tokenizer(captions)
        g = torch.Generator().manual_seed(seed)
        rng = random.Random(seed)
        patch = (0.5 + 0.25 * torch.randn((3, self.side, self.side), generator=g)).clamp(0, 1).to(device)
        patch.requires_grad_(True)
        opt = torch.optim.Adam([patch], lr=self.lr)
        triplet = torch.nn.TripletMarginLoss(margin=self.margin)
        history, n = [], len(images)
        bar = progress(total=self.epochs * (n // self.batch_size), desc="badclip patch", unit="step")
        for epoch in range(1, self.epochs + 1):
            perm = torch.randperm(n, generator=g)
            sums, steps = {"clip": 0.0, "triplet": 0.0}, 0
            for k in range(n // self.batch_size):  # full batches only (the code's drop_last)
                idx = perm[k * self.batch_size : (k + 1) * self.batch_size]
                x = images[idx]
                if augment is not None and rng.random() < self.aug_prob:
                    x = augment(x)
                x = to_float(x.to(device))
                z = embed(self.paste(x, patch))
                txt = model.encode_text(tokens[idx].to(device), normalize=True)
                l_clip = clip_loss(z, txt, model.logit_scale.exp())
                p = pos[torch.randint(len(pos), (len(idx),), generator=g).to(device)]
                if self.negatives == "triggered":  # the code: another triggered image of the batch, detached
                    neg = z.detach()[torch.randperm(len(idx), generator=g).to(device)]
                else:
                    with torch.no_grad():
                        neg = embed(x)
                l_tri = triplet(z, p, neg)
                loss = l_clip + self.triplet_weight * l_tri
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sums["clip"] += l_clip.item()
                sums["triplet"] += l_tri.item()
                steps += 1
                bar.update(1)
            history.append({"epoch": epoch, **{k: v / max(steps, 1) for k, v in sums.items()}})
        bar.close()
        return patch.detach().clamp(0, 1).cpu(), history
