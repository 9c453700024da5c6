import torch

from bdunlearn.data.io import save_weights
from bdunlearn.models.clip_adapter import ClipClassifier, load_clip_classifier
from bdunlearn.models.open_clip_models import create_clip, load_clip, save_clip, tokenizer_for
from bdunlearn.models.zeroshot import zeroshot_head


def test_bundled_arch_roundtrips_through_safetensors(tmp_path):
    torch.manual_seed(0)
    model, spec = create_clip("bdclip-tiny", resolution=32)
    save_clip(model, spec, tmp_path / "model.safetensors", tmp_path / "spec.json")
    again, spec2 = load_clip(tmp_path / "model.safetensors", tmp_path / "spec.json")
    assert spec2 == spec
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(again.encode_image(x), model.encode_image(x))


def test_pretrained_path_uses_open_clip_loader_with_a_local_weights_file(tmp_path):
    """The tag path (``create_model_and_transforms(arch, pretrained=...)``) with a local stand-in checkpoint."""
    torch.manual_seed(1)
    ref, _ = create_clip("bdclip-tiny")
    save_weights(ref.state_dict(), tmp_path / "ckpt.safetensors")
    loaded, spec = create_clip("bdclip-tiny", pretrained=str(tmp_path / "ckpt.safetensors"))
    assert spec.pretrained.endswith("ckpt.safetensors") and spec.resolution == 32
    for k, v in ref.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_classifier_head_and_editable_state(tmp_path):
    torch.manual_seed(2)
    model, spec = create_clip("bdclip-tiny")
    head = zeroshot_head(model, tokenizer_for("bdclip-tiny"), ["zero", "one", "two"], ["a {}.", "the {}."])
    assert head.shape == (3, 96)
    torch.testing.assert_close(head.norm(dim=1), model.logit_scale.exp().expand(3), rtol=1e-5, atol=1e-5)
    save_clip(model, spec, tmp_path / "model.safetensors", tmp_path / "spec.json")
    save_weights({"weight": head}, tmp_path / "head.safetensors")
    clf = load_clip_classifier(tmp_path, tmp_path / "head.safetensors")
    assert isinstance(clf, ClipClassifier) and clf.num_classes == 3
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    logits = clf(x)
    assert logits.shape == (4, 3)
    feats = model.encode_image((x.float() / 255 - clf.mean) / clf.std, normalize=True)
    torch.testing.assert_close(logits, feats @ head.T, rtol=1e-4, atol=1e-4)
    assert set(clf.editable_state()) == set(model.visual.state_dict())
