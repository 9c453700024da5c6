"""What a backdoor attack declares to the workflow, and how it is built.

Torch-free at import: the Snakefile imports every attack at parse time to
validate the config (names, modality, parameters) and plan its inputs. An
attack module imports torch only inside the methods that trigger inputs.

An attack is a subclass of :class:`ImageAttack` or :class:`TextAttack`
registered with :func:`bdunlearn.attacks.register`; ``docs/extending.md``
walks through one.
"""

from __future__ import annotations

import copy

MODALITIES = ("image", "text")


class Attack:
    """One backdoor attack: the class declares it, an instance (made by :meth:`build`) is one fixed trigger.

    - ``name``: the config's name (``attacks``, ``attack_params.<name>``) and the ``attack`` wildcard;
      ``label``: its name in the tables.
    - ``modality``: ``image`` or ``text``; a dataset may use only attacks of its modality.
    - ``parameters``: ``{key: JSON-schema fragment}``, the schema's ``attack_params.<name>.<key>``. Each key is
      an argument of the constructor, and its default there is the schema's default (``register`` copies it
      into the fragment), so a config that sets nothing builds the constructor's default trigger.
    - ``data_dir`` / ``data_files``: the parameter naming a directory of files the attack reads (HiddenKiller's
      paraphrases), and the files it must hold: the config check requires them (or rule ``fetch_data``
      downloads them) and they are the poisoning job's inputs. ``""`` / ``()``: none.
    - ``learned``: the trigger is optimised against the clean pretrained model before poisoning (BadCLIP): rule
      ``optimize_trigger`` calls the instance's ``optimize`` and the poisoning job builds the attack with
      ``trigger=<its file>``. ``caption_datasets_only``: the attack needs image-caption pairs (the config check
      refuses it on other datasets).
    """

    name: str = ""
    label: str = ""
    modality: str = ""
    parameters: dict[str, dict] = {}
    data_dir: str = ""
    data_files: tuple[str, ...] = ()
    learned: bool = False
    caption_datasets_only: bool = False
    source: str = ""  # set by register: the module that defined it

    @classmethod
    def schema(cls) -> dict:
        """The ``attack_params.<name>`` block of the config schema."""
        return {"type": "object", "additionalProperties": False, "default": {}, "properties": copy.deepcopy(cls.parameters)}

    @classmethod
    def build(cls, seed: int, resolution: int | None = None, trigger: str | None = None, **params):
        """The trigger for one (seed, dataset): ``params`` are the config's ``attack_params.<name>``, unknown keys
        an error naming them; an image attack also needs the model's input ``resolution``; a ``learned`` one
        takes its optimised ``trigger`` file (without it, it can only be optimised)."""
        unknown = set(params) - set(cls.parameters)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} for attack {cls.name!r}; allowed: {sorted(cls.parameters)}")
        if trigger is not None:
            if not cls.learned:
                raise ValueError(f"attack {cls.name!r} has no learnt trigger to load")
            params = {**params, "trigger": trigger}
        return cls.create(seed, resolution, params)

    @classmethod
    def create(cls, seed: int, resolution: int | None, params: dict):
        raise NotImplementedError


class ImageAttack(Attack):
    """An image trigger: ``attack(x, uids)`` maps a float batch ``(N, 3, H, W)`` in ``[0, 1]`` at the model's
    input resolution, with the rows' uids, to the triggered batch. Its constructor takes ``resolution``, ``seed``
    and the parameters."""

    modality = "image"

    @classmethod
    def create(cls, seed, resolution, params):
        if resolution is None:
            raise ValueError(f"image attack {cls.name!r}: the input resolution is required")
        return cls(resolution=resolution, seed=seed, **params)


class TextAttack(Attack):
    """A text trigger: ``attack(texts, uids)`` returns the triggered texts. Its constructor takes ``seed`` and the
    parameters.

    ``paraphrases``: the triggered rows are read from a poisoned copy of the dataset instead (HiddenKiller):
    ``train_paraphrases(clean_texts)`` gives each training row's triggered text or None, and
    ``eval_rows(split, clean_texts, clean_labels, target)`` a split's triggered rows (``bdunlearn.poison_text``).
    """

    modality = "text"
    paraphrases: bool = False

    @classmethod
    def create(cls, seed, resolution, params):
        return cls(seed=seed, **params)
