"""Zero-shot classification heads from a CLIP text encoder (used by ``build_head`` and ``pretrain_clip``).

Head construction follows open_clip / Ilharco et al. (2022): for each class,
the normalised text embeddings of every template are averaged and normalised
again; the head is those rows scaled by the model's logit scale, so
``logits = head @ normalize(image_features)``.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def class_embeddings(model, tokenizer, classnames, templates, device="cpu", batch_classes: int = 32) -> torch.Tensor:
    """(C, D) normalised class embeddings averaged over templates."""
    model = model.to(device).eval()
    rows = []
    for i in range(0, len(classnames), batch_classes):
        names = classnames[i : i + batch_classes]
        texts = [t.format(c) for c in names for t in templates]
        emb = model.encode_text(tokenizer(texts).to(device), normalize=True).float()
        emb = emb.view(len(names), len(templates), -1).mean(dim=1)
        rows.append(emb / emb.norm(dim=-1, keepdim=True))
    return torch.cat(rows).cpu()


@torch.no_grad()
def zeroshot_head(model, tokenizer, classnames, templates, device="cpu") -> torch.Tensor:
    return model.logit_scale.exp().float().cpu() * class_embeddings(model, tokenizer, classnames, templates, device)
