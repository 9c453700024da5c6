"""Zero-shot classification heads from a CLIP text encoder (used by ``build_head`` and ``pretrain_clip``).

Head construction follows open_clip / Ilharco et al. (2022): for each class,
the normalised text embeddings of every template are averaged and normalised
again; the head is those rows scaled by the model's logit scale, so
``logits = head @ normalize(image_features)``.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def caption_embeddings(model, tokenizer, captions: list[list[str]], device="cpu", batch_classes: int = 32) -> torch.Tensor:
    """(C, D) normalised class embeddings: the mean of the normalised embeddings of each class's captions."""
    model = model.to(device).eval()
    rows = []
    for i in range(0, len(captions), batch_classes):
        group = captions[i : i + batch_classes]
        emb = model.encode_text(tokenizer([c for cs in group for c in cs]).to(device), normalize=True).float()
        for part in emb.split([len(cs) for cs in group]):
            mean = part.mean(dim=0)
            rows.append(mean / mean.norm())
    return torch.stack(rows).cpu()


def class_embeddings(model, tokenizer, classnames, templates, device="cpu", batch_classes: int = 32) -> torch.Tensor:
    """(C, D) normalised class embeddings averaged over templates."""
    return caption_embeddings(model, tokenizer, [[t.format(c) for t in templates] for c in classnames], device, batch_classes)


@torch.no_grad()
def zeroshot_head(model, tokenizer, classnames, templates, device="cpu") -> torch.Tensor:
    return model.logit_scale.exp().float().cpu() * class_embeddings(model, tokenizer, classnames, templates, device)
