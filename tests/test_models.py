import functools
import http.server
import threading
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from salmap.errors import SalmapError
from salmap.models import ModelConfig, SaliencyModel, create_encoder, load_model
from salmap.models import encoders as enc_mod

TINY_SEED = {"widths": [16, 16, 8, 8, 8]}


def tiny_config(**kw) -> ModelConfig:
    base = dict(
        encoder="tiny", encoder_weights=None, decoder="fpn", input_size=(64, 64), decoder_args={}
    )
    base.update(kw)
    return ModelConfig(**base)


class DecoderSuite:
    """Every decoder gets the same CPU checks on the tiny encoder by subclassing this."""

    decoder = ""
    decoder_args: dict = {}

    @pytest.mark.parametrize("head", [(False, False), (True, True)])
    @pytest.mark.parametrize("output", ["sigmoid", "softmax"])
    def test_forward_backward(self, head, output):
        torch.manual_seed(0)
        cfg = tiny_config(
            decoder=self.decoder,
            decoder_args=self.decoder_args,
            output=output,
            centre_bias=head[0],
            blur=head[1],
        )
        model = SaliencyModel(cfg)
        x = torch.randn(2, 3, 64, 64)
        logits = model(x)
        assert logits.shape == (2, 1, 64, 64)
        maps = model.activate(logits)
        if output == "softmax":
            torch.testing.assert_close(maps.sum(dim=(1, 2, 3)), torch.ones(2))
        logits.mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)

    def test_save_load_roundtrip(self, tmp_path):
        model = SaliencyModel(
            tiny_config(
                decoder=self.decoder, decoder_args=self.decoder_args, centre_bias=True, blur=True
            )
        ).eval()
        model.save(tmp_path / "m")
        again = load_model(tmp_path / "m")
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(model(x), again(x))
        assert again.config.to_dict() == model.config.to_dict()


class TestSeedDecoder(DecoderSuite):
    decoder, decoder_args = "seed", TINY_SEED


class TestUNetDecoder(DecoderSuite):
    decoder, decoder_args = "unet", {"widths": [16, 16, 8]}


class TestFPNDecoder(DecoderSuite):
    decoder, decoder_args = "fpn", {"width": 16}


class TestReadoutDecoder(DecoderSuite):
    decoder, decoder_args = "readout", {"widths": [8, 4], "dropout": 0.1}


@pytest.mark.parametrize(
    "encoder", ["resnet50", "efficientnet_lite0", "timm:mobilenetv3_small_050"]
)
def test_real_encoders_forward_backward(encoder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SaliencyModel(
            tiny_config(encoder=encoder, decoder="unet", decoder_args={"widths": [16, 16, 8]})
        )
    logits = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 1, 64, 64)
    logits.mean().backward()


def test_seed_model_is_512_in_512_out():
    with pytest.warns(UserWarning, match="randomly initialised"):
        model = SaliencyModel(ModelConfig(encoder="resnet50", encoder_weights=None)).eval()
    assert 60e6 < sum(p.numel() for p in model.parameters()) < 62e6  # "about 61 M" in the reference
    with torch.no_grad():
        out = model.activate(model(torch.randn(1, 3, 512, 512)))
    assert out.shape == (1, 1, 512, 512) and out.min() >= 0 and out.max() <= 1


def test_errors_name_the_fix():
    with pytest.raises(SalmapError, match="valid: .*efficientnet_lite0.*resnet50.*timm:<name>"):
        create_encoder("vgg16")
    with pytest.raises(SalmapError, match="use e.g. 96x64"):
        SaliencyModel(tiny_config(input_size=(100, 60)))
    model = SaliencyModel(tiny_config())
    with pytest.raises(SalmapError, match="B x 3 x 64 x 64"):
        model(torch.randn(1, 3, 32, 32))


def test_fp16_weights_load_as_float32(tmp_path):
    model = SaliencyModel(tiny_config()).eval()
    model.save(tmp_path / "half", half=True)
    again = load_model(tmp_path / "half" / "model.safetensors")
    assert all(p.dtype == torch.float32 for p in again.parameters())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), again(x), atol=2e-2, rtol=1e-2)


def test_predict_returns_density_at_image_resolution(nus_mini):
    model = SaliencyModel(tiny_config(aspect="pad", output="softmax"))
    path = next((nus_mini / "images").glob("258.jpg"))  # portrait
    m = model.predict(path)
    assert m.shape == (320, 240) and m.dtype == np.float32
    assert m.sum() == pytest.approx(1.0, abs=1e-4)
    batch = model.predict_batch(
        [path, Image.open(path), np.zeros((10, 30, 3), np.uint8)], batch_size=2
    )
    assert [b.shape for b in batch] == [(320, 240), (320, 240), (10, 30)]
    np.testing.assert_allclose(batch[0], m, atol=1e-6)


def test_efficientnet_lite_weights_classify_real_photos(photos):
    """The key mapping is right when the ImageNet classifier recognises real photos."""
    model = enc_mod.efficientnet_lite_classifier(0).eval()
    expected = {"chelsea.jpg": range(281, 286), "coffee.jpg": [967]}  # cats; espresso
    for name, classes in expected.items():
        im = np.asarray(Image.open(photos / name).convert("RGB").resize((224, 224)), np.float32)
        x = torch.from_numpy((im / 255 - 0.5) / 0.5).permute(2, 0, 1)[None]
        with torch.no_grad():
            p = model(x).softmax(-1)[0]
        assert p.argmax().item() in classes, name
        assert p[list(classes)].sum() > 0.6, name


def test_lite_encoder_uses_the_mapped_weights():
    full = enc_mod.efficientnet_lite_classifier(0)
    encoder = create_encoder("efficientnet_lite0")
    torch.testing.assert_close(encoder.body.conv_stem.weight, full.conv_stem.weight)
    torch.testing.assert_close(
        encoder.body.blocks[6][0].conv_pwl.weight, full.blocks[6][0].conv_pwl.weight
    )


def test_resnet50_from_local_weights_file(tmp_path):
    from torchvision.models import resnet50

    ref = resnet50(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r50.pth")
    encoder = create_encoder("resnet50", weights=tmp_path / "r50.pth")
    torch.testing.assert_close(encoder.body.layer4[2].conv3.weight, ref.layer4[2].conv3.weight)


def test_resnet50_offline_error_says_both_ways(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(
        enc_mod,
        "resnet50_weights_file",
        lambda: ("http://127.0.0.1:9/resnet50-0676ba61.pth", tmp_path / "r.pth", "0676ba61"),
    )
    with pytest.raises(SalmapError, match="connect to the internet.*encoder_weights=PATH"):
        create_encoder("resnet50")


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_resnet50_download_is_checked(http_root, tmp_path, monkeypatch):
    """The torchvision weights are fetched, hash-checked and cached (from a local server)."""
    from torchvision.models import resnet50

    from salmap.download import sha256_of

    root, url = http_root
    torch.save(resnet50(weights=None).state_dict(), root / "w.pth")
    digest = sha256_of(root / "w.pth")
    target = tmp_path / "cache" / "resnet50-x.pth"
    monkeypatch.setattr(
        enc_mod, "resnet50_weights_file", lambda: (f"{url}/w.pth", target, digest[:8])
    )
    encoder = create_encoder("resnet50")
    assert target.is_file() and encoder.out_channels[-1] == 2048


def test_download_refuses_a_wrong_hash_and_leaves_nothing(http_root, tmp_path):
    from salmap.download import DownloadError, download

    root, url = http_root
    (root / "f.bin").write_bytes(b"x" * 5000)
    with pytest.raises(DownloadError, match="does not match"):
        download(f"{url}/f.bin", tmp_path / "dl" / "f.bin", "deadbeef")
    assert list((tmp_path / "dl").iterdir()) == []
    with pytest.raises(DownloadError, match="download failed"):
        download(f"{url}/missing.bin", tmp_path / "dl" / "g.bin", "deadbeef")


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_readout_is_upsample_concatenate_then_1x1_convolutions(dropout):
    """The readout convolves each level before upsampling (they commute); its function must be
    the definition's: every level upsampled to stride 8, concatenated, then the 1x1 stack."""
    import torch.nn.functional as F

    from salmap.models.decoders import ReadoutDecoder

    torch.manual_seed(0)
    dec = ReadoutDecoder([3, 4, 5, 6, 7], [2, 4, 8, 16, 32], widths=[6, 3], dropout=dropout).eval()
    feats = [
        None,
        None,
        torch.randn(2, 5, 16, 12),
        torch.randn(2, 6, 8, 6),
        torch.randn(2, 7, 4, 3),
    ]
    up = [feats[2]] + [
        F.interpolate(f, size=(16, 12), mode="bilinear", align_corners=False) for f in feats[3:]
    ]
    want = dec.readout(torch.cat(up, dim=1))
    got = dec(feats)
    assert got.shape == (2, 1, 16, 12)
    assert torch.allclose(got, want, atol=1e-5)
    dec.train()  # channel dropout still drops whole channels, as often as asked
    if dropout:
        torch.manual_seed(1)
        a = dec(feats)
        torch.manual_seed(2)
        assert not torch.allclose(a, dec(feats))
