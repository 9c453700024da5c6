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


def test_bundled_arch_runs_open_clips_custom_blocks_with_the_default_blocks_weights():
    """``bdclip-tiny`` sets ``block_type: custom`` (open_clip's batch-first attention, faster on CPU): it starts from
    the default blocks' initial weights, bit for bit, leaves the RNG where they leave it, and the same weights give
    the same embeddings and gradients."""
    import copy
    import json

    import open_clip

    from bdunlearn.models.clip_losses import clip_loss
    from bdunlearn.models.open_clip_models import MODEL_CONFIG_DIR

    cfg = json.loads((MODEL_CONFIG_DIR / "bdclip-tiny.json").read_text())
    assert cfg["vision_cfg"]["block_type"] == cfg["text_cfg"]["block_type"] == "custom"
    plain = copy.deepcopy(cfg)
    for tower in ("vision_cfg", "text_cfg"):
        del plain[tower]["block_type"]
    torch.manual_seed(3)
    default = open_clip.create_model("bdclip-tiny", force_image_size=32, **plain)
    after_default = torch.rand(4)
    torch.manual_seed(3)
    ours, _ = create_clip("bdclip-tiny", resolution=32)
    after_ours = torch.rand(4)
    assert type(default.visual.transformer.resblocks[0].attn) is torch.nn.MultiheadAttention
    assert type(ours.visual.transformer.resblocks[0].attn) is not torch.nn.MultiheadAttention
    assert list(default.state_dict()) == list(ours.state_dict())
    for name, v in default.state_dict().items():
        assert torch.equal(ours.state_dict()[name], v), name
    assert torch.equal(after_default, after_ours)
    x, tokens = torch.rand(6, 3, 32, 32), tokenizer_for("bdclip-tiny")(["a red 3, top left.", "a small 7."] * 3)
    grads = []
    for m in (ours.train(), default.train()):
        img, txt = m.encode_image(x, normalize=True), m.encode_text(tokens, normalize=True)
        m.zero_grad(set_to_none=True)
        clip_loss(img, txt, m.logit_scale.exp()).backward()
        grads.append((img.detach(), txt.detach(), {n: q.grad for n, q in m.named_parameters()}))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])
    for name, g in grads[0][2].items():
        torch.testing.assert_close(g, grads[1][2][name], rtol=1e-4, atol=1e-6, msg=name)


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
