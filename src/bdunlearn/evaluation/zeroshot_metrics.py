"""Zero-shot CA and ASR of a whole CLIP (the image-caption track, TBAR section 4 and appendix B.2.2).

Both towers change on this track, so the classification head is rebuilt from the evaluated model's own text
tower: each class's prompt templates are embedded and averaged (open_clip's zero-shot recipe), and an image is
classified by its nearest class embedding. CA: accuracy on the clean evaluation images. ASR: the percentage of
triggered images of non-target classes classified as the target (the target class's own images are left out, as
on the classification track; BadCLIP's ``evaluate.py`` counts them too, ``docs/fidelity.md``).
"""

from __future__ import annotations

from bdunlearn.evaluation.metrics import accuracy, attack_success_rate, class_accuracies
from bdunlearn.models.clip_adapter import ClipClassifier
from bdunlearn.models.training import predict
from bdunlearn.models.zeroshot import zeroshot_head


def zeroshot_classifier(model, spec, tokenizer, meta: dict, device) -> ClipClassifier:
    """``model``'s visual tower with a zero-shot head from its text tower (``meta``: classes.json)."""
    head = zeroshot_head(model, tokenizer, meta["classnames"], meta["templates"], device)
    return ClipClassifier(model.visual, head, spec.mean, spec.std).to(device).eval()


def zeroshot_ca_asr(model, spec, tokenizer, meta: dict, clean, triggered, device, batch_size: int = 256) -> dict:
    """``{"ca", "asr", "ca_per_class"}`` of ``model`` on ``clean`` and ``triggered`` ((uint8 images, labels) each)."""
    clf = zeroshot_classifier(model, spec, tokenizer, meta, device)
    preds = predict(clf, clean[0], device, batch_size)
    target = int(meta["target"])
    return {"ca": accuracy(preds, clean[1]),
            "asr": attack_success_rate(predict(clf, triggered[0], device, batch_size), triggered[1], target),
            "ca_per_class": class_accuracies(preds, clean[1], len(meta["classnames"]))}
