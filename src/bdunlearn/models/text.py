"""The ``text`` model kind (text datasets' default): a transformers sequence classifier through ``from_pretrained``.

The model is ``text.model`` with the dataset's ``text_model`` over it (one
config, several models: RGA paper Table 2). Spec: ``{"kind": "text", "name":
<hub id, local dir or offline alias>, "classes": <classes.json> (or
"num_labels": K), "max_length": 128, "dtype": "auto", "head": "linear" | "auto",
"seed": S}``; the seed fixes the fresh classification head's initialisation,
which is part of the base weights. The adapter is
:class:`bdunlearn.models.text_adapter.TextClassifier`.
"""

from __future__ import annotations

from bdunlearn.models import register
from bdunlearn.models.base import ModelContext, ModelKind


@register
class Text(ModelKind):
    name = "text"
    label = "transformers classifier"
    modality = "text"
    default = True

    def inputs(self, ctx: ModelContext) -> dict[str, str]:
        return {"classes": ctx.data("classes.json")}

    def spec(self, ctx: ModelContext) -> dict:
        m = {**ctx.config["text"]["model"], **ctx.view.get("text_model", {})}
        return {"name": m["name"], "max_length": m["max_length"], "dtype": m["dtype"], "head": m["head"],
                "classes": ctx.data("classes.json"), "seed": int(ctx.seed)}

    def load(self, spec: dict, weights=None, device="cpu"):
        import torch
        from torch import nn

        from bdunlearn.data.io import load_weights, read_json
        from bdunlearn.models.hf_text import load_text_model
        from bdunlearn.models.text_adapter import TextClassifier
        from bdunlearn.workflow.runtime import derive_seed

        num_labels = int(spec.get("num_labels") or len(read_json(spec["classes"])["classnames"]))
        head_kind = spec.get("head", "auto")
        torch.manual_seed(derive_seed(spec.get("seed", 0), "text-head"))  # the fresh head's init is part of theta_base
        tokenizer, model, decoder = load_text_model(spec["name"], num_labels, spec.get("dtype", "auto"),
                                                    torch.device(device), head_kind)
        head = None
        if head_kind == "linear":
            torch.manual_seed(derive_seed(spec.get("seed", 0), "text-head"))
            head = nn.Linear(model.config.hidden_size, num_labels).to(model.dtype)
        adapter = TextClassifier(model, tokenizer, spec.get("max_length", 128), decoder, head)
        if weights is not None:
            adapter.load_editable_state(load_weights(weights))
        return adapter.to(device).eval()
