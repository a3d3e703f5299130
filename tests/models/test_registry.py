import pytest
import torch

from cube.errors import InvalidInputError
from models.dual_encoder import DualEncoderUnet
from models.registry import DEFAULT_MODEL, MODELS, create_model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_maps_features_to_logits(name: str) -> None:
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 10, 256, 256))
    assert out.shape == (1, 1, 256, 256)
    assert out.dtype == torch.float32


def test_default_is_unet_resnet34() -> None:
    model = create_model()
    assert DEFAULT_MODEL == "unet_r34"
    assert model.encoder.__class__.__name__ == "ResNetEncoder"
    assert len(model.encoder.layer1) == 3  # ResNet-34: 3-4-6-3 blocks


def test_unknown_model_lists_registry() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown model 'unet_r99'.*unet_r34"):
        create_model("unet_r99")


def test_bad_builder_option_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="bad options for model 'unet_r18'"):
        create_model("unet_r18", depth=3)


def test_dual_encoder_uses_sar_bands() -> None:
    torch.manual_seed(0)
    model = DualEncoderUnet(optical_encoder="resnet18").eval()
    optical = torch.rand(2, 10, 64, 64)
    sar = torch.rand(2, 2, 64, 64)
    with torch.no_grad():
        stacked = model(torch.cat([optical, sar], dim=1))
        separate = model(optical, sar)
        without = model(optical)
    assert stacked.shape == (2, 1, 64, 64)
    torch.testing.assert_close(stacked, separate)
    assert not torch.allclose(stacked, without)


@pytest.mark.parametrize("channels", [3, 11, 13])
def test_dual_encoder_rejects_wrong_channels(channels: int) -> None:
    model = DualEncoderUnet(optical_encoder="resnet18").eval()
    with pytest.raises(InvalidInputError, match=f"got {channels}"):
        model(torch.rand(1, channels, 64, 64))


def test_dual_encoder_rejects_wrong_sar_channels() -> None:
    model = DualEncoderUnet(optical_encoder="resnet18").eval()
    with pytest.raises(InvalidInputError, match="VV, VH"):
        model(torch.rand(1, 10, 64, 64), torch.rand(1, 3, 64, 64))
