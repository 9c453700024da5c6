"""What a model kind declares to the workflow, and the adapter interface its models implement.

Torch-free: the Snakefile imports every model kind at parse time to plan each
dataset's model (the files it is built from, the JSON *model spec* every rule
passes as ``--model``) and to check the config. A kind module imports torch
only inside :meth:`ModelKind.load`.

A model kind is a subclass of :class:`ModelKind` registered with
:func:`bdunlearn.models.register`; ``docs/extending.md`` walks through one.

The adapter :meth:`ModelKind.load` returns is an ``nn.Module`` that the
methods (TBAR, GA, NPO, RGA, ReTrain), CUBE and the training loops talk to
through this interface only, so every method runs on every kind:

- ``forward(x)``: class logits (float32) of a batch; ``features(x)``: the sample embedding CUBE clusters;
- ``num_classes``;
- ``editable_state()``: ``{name: tensor}`` of the weights fine-tuning trains, task vectors span and
  unlearning updates; ``load_editable_state(state)`` copies such a dict in place;
  ``named_editable_parameters()`` / ``editable_parameters()``: the same as parameters;
  ``head_parameter_names()``: the classification head's names among them (RGA's L2 term leaves them out);
- ``load_split(path)``: a Parquet split as ``(inputs, int64 labels)``; ``encode_frame(df)``: the same from a
  DataFrame's rows. ``inputs`` support ``len``, slicing and index tensors, and each batch ``.to(device)``.
"""

from __future__ import annotations

from dataclasses import dataclass

MODALITIES = ("image", "text")


@dataclass(frozen=True)
class ModelContext:
    """What the workflow knows when it plans one dataset's model: the seed's results directory (``root``,
    ``results/<study>/seed<seed>``), the seed, the dataset's name and config view (``bdunlearn.workflow.config
    .dataset_view``), and the whole validated config."""

    root: str
    seed: int
    dataset: str
    view: dict
    config: dict

    def data(self, name: str) -> str:
        """A file of the dataset's prepared splits (``prepare_images`` / ``prepare_text``): ``classes.json``, ..."""
        return f"{self.root}/data/{self.dataset}/{name}"


class ModelKind:
    """One kind of model. Subclasses set the class attributes and implement :meth:`spec` and :meth:`load`.

    - ``name``: the model spec's ``kind`` and the config's ``datasets.<name>.model_kind``; ``label``: its name
      in the docs and ``bdunlearn models``.
    - ``modality``: ``image`` or ``text``: the datasets (and so the attacks) it takes.
    - ``default``: the kind a dataset of its modality gets when it names none (one per modality).
    """

    name: str = ""
    label: str = ""
    modality: str = ""
    default: bool = False
    source: str = ""  # set by register: the module (or plugin file) that defined it

    def inputs(self, ctx: ModelContext) -> dict[str, str]:
        """``{name: path}``: the files the spec names, i.e. what every job that builds this model depends on
        (Snakemake plans the rules that make them). Default: none."""
        return {}

    def spec(self, ctx: ModelContext) -> dict:
        """The JSON-serialisable spec a job gets as ``--model`` (the registry adds ``kind``, and ``plugin`` for a
        plugin's kind): everything :meth:`load` needs besides the weights."""
        raise NotImplementedError

    def resolution(self, cfg: dict, view: dict) -> int | None:
        """An image kind's input side in pixels: data preparation stores images at this size. Text: None."""
        return None

    def check(self, cfg: dict, datasets: list[str], base_dir) -> list[str]:
        """Config problems of the datasets that use this kind (each message names its key). Default: none."""
        return []

    def load(self, spec: dict, weights=None, device="cpu"):
        """The adapter (see the module docstring) that ``spec`` describes, in eval mode on ``device``, with
        ``weights`` (a safetensors file of its editable state) loaded when given; else its base weights."""
        raise NotImplementedError
