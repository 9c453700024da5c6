"""A toy model kind, registered from outside the package as a config's ``plugins`` entry would be
(tests/test_model_kinds.py, tests/test_workflow.py; docs/extending.md walks through the same steps).

``pixel_mlp``: a one-hidden-layer perceptron on an image's pixels (scaled to [0, 1]). Its base weights are a
seeded initialisation, so no rule makes them (no ``pretrain_clip``, no ``build_head``); its editable state is
all of its weights, its features the hidden layer, its head the output layer. Images are prepared at 12 px.
"""

from bdunlearn.models import ModelKind, register


@register
class PixelMLP(ModelKind):
    name = "pixel_mlp"
    label = "pixel MLP"
    modality = "image"

    def inputs(self, ctx):
        return {"classes": ctx.data("classes.json")}

    def spec(self, ctx):
        return {"classes": ctx.data("classes.json"), "side": self.resolution(ctx.config, ctx.view), "hidden": 32,
                "seed": ctx.seed}

    def resolution(self, cfg, view):
        return 12

    def load(self, spec, weights=None, device="cpu"):
        import torch
        from torch import nn

        from bdunlearn.data.io import decode_images, load_weights, read_json, read_parquet

        class PixelMLPClassifier(nn.Module):
            def __init__(self, side, hidden, classes):
                super().__init__()
                self.hidden = nn.Linear(3 * side * side, hidden)
                self.out = nn.Linear(hidden, classes)

            @property
            def num_classes(self):
                return self.out.out_features

            def features(self, x):
                return torch.relu(self.hidden(x.flatten(1).float() / 255.0))

            def forward(self, x):
                return self.out(self.features(x))

            def named_editable_parameters(self):
                return dict(self.named_parameters())

            def editable_parameters(self):
                return list(self.parameters())

            def editable_state(self):
                return {k: p.data for k, p in self.named_parameters()}

            def head_parameter_names(self):
                return ["out.weight", "out.bias"]

            def load_editable_state(self, state):
                with torch.no_grad():
                    for k, p in self.named_parameters():
                        p.copy_(state[k])

            def encode_frame(self, df):
                return decode_images(df["image"]), torch.tensor(df["label"].to_numpy(), dtype=torch.long)

            def load_split(self, path):
                return self.encode_frame(read_parquet(path))

        torch.manual_seed(int(spec["seed"]))  # the base weights: a seeded initialisation
        model = PixelMLPClassifier(int(spec["side"]), int(spec["hidden"]), len(read_json(spec["classes"])["classnames"]))
        if weights is not None:
            model.load_editable_state(load_weights(weights))
        return model.to(device).eval()
