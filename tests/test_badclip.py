"""BadCLIP (bdunlearn.attacks.badclip): the pasted patch, the optimised trigger's file, and the optimisation
pulling triggered images to the target class's embeddings on the bundled tiny CLIP."""

import pytest
import torch

from bdunlearn import attacks
from bdunlearn.data.io import save_weights
from bdunlearn.models.open_clip_models import create_clip, tokenizer_for


def test_the_patch_sits_at_the_centre_and_the_trigger_file_is_checked(tmp_path):
    cls = attacks.get("badclip", "image")
    assert cls.learned and cls.caption_datasets_only and cls.label == "BadCLIP"
    att = cls.build(0, 32, patch_size=56)  # 56 px at 224: 8 px at 32
    assert att.side == 8 and att.corner == 12
    with pytest.raises(ValueError, match="needs its optimised patch"):
        att(torch.zeros(1, 3, 32, 32))
    patch = torch.rand(3, 8, 8)
    save_weights({"patch": patch}, tmp_path / "trigger.safetensors")
    att = cls.build(0, 32, trigger=str(tmp_path / "trigger.safetensors"), patch_size=56)
    x = torch.full((2, 3, 32, 32), 0.3)
    y = att(x)
    assert torch.equal(y[:, :, 12:20, 12:20], patch.expand(2, 3, 8, 8)) and torch.equal(x, torch.full_like(x, 0.3))
    outside = y.clone()
    outside[:, :, 12:20, 12:20] = 0.3
    assert torch.equal(outside, x)
    with pytest.raises(ValueError, match=r"expected \(3, 4, 4\)"):
        cls.build(0, 16, trigger=str(tmp_path / "trigger.safetensors"), patch_size=56)
    with pytest.raises(ValueError, match="has no learnt trigger"):
        attacks.get("badnet", "image").build(0, 32, trigger=str(tmp_path / "trigger.safetensors"))


@pytest.mark.parametrize("negatives", ["triggered", "clean"])
def test_the_optimised_patch_pulls_triggered_images_towards_the_target_images(negatives):
    torch.manual_seed(0)
    model, spec = create_clip("bdclip-tiny", resolution=16)
    g = torch.Generator().manual_seed(1)
    images = (torch.rand(32, 3, 16, 16, generator=g) * 0.6 * 255).to(torch.uint8)
    positives = (torch.rand(8, 3, 16, 16, generator=g) * 255).to(torch.uint8)
    positives[:, :, 4:12, 4:12] = 255  # the target class: a bright centre
    att = attacks.get("badclip", "image").build(0, 16, patch_size=112, epochs=15, batch_size=8, lr=5e-2,
                                                negatives=negatives)

    def pull(patch):
        with torch.no_grad():
            mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
            std = torch.tensor(spec.std).view(1, 3, 1, 1)
            z = model.encode_image((att.paste(images.float() / 255, patch) - mean) / std, normalize=True)
            p = model.encode_image((positives.float() / 255 - mean) / std, normalize=True).mean(0)
        return float((z @ p).mean())

    start = (0.5 + 0.25 * torch.randn((3, 8, 8), generator=torch.Generator().manual_seed(7))).clamp(0, 1)
    patch, history = att.optimize(model, spec, tokenizer_for("bdclip-tiny"), images, ["a photo of a zero."] * 32,
                                  positives, torch.device("cpu"), seed=7)
    assert patch.shape == (3, 8, 8) and 0 <= float(patch.min()) and float(patch.max()) <= 1
    assert [h["epoch"] for h in history] == list(range(1, 16)) and history[-1]["triplet"] < history[0]["triplet"]
    assert pull(patch) > pull(start) + 0.05
    assert all(not p.requires_grad for p in model.parameters())  # the clean model stays frozen
