"""Dual-encoder UNet: separate optical (10 ch) and SAR (VV, VH) encoders, one shared decoder."""

from __future__ import annotations

import torch
from segmentation_models_pytorch.base import SegmentationHead
from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder
from segmentation_models_pytorch.encoders import get_encoder
from torch import nn

from cube.errors import InvalidInputError

__all__ = ["OPTICAL_CHANNELS", "SAR_CHANNELS", "DualEncoderUnet"]

OPTICAL_CHANNELS = 10
SAR_CHANNELS = 2


class DualEncoderUnet(nn.Module):
    """UNet with an optical encoder and a SAR encoder fused stage by stage.

    The input is either the 10 optical feature bands (SAR treated as absent: zeros, so the
    model serves the 10-band Predictor contract) or 12 bands, the 10 optical ones followed by
    VV and VH. At every encoder stage the two feature maps are concatenated and projected
    back to the optical width with a 1x1 convolution before the shared UNet decoder.

    Args:
        optical_encoder: smp encoder name for the optical branch.
        sar_encoder: smp encoder name for the SAR branch.
        encoder_weights: Pretrained weights of the optical encoder (``None`` offline).
        classes: Output logit channels.
    """

    def __init__(
        self,
        optical_encoder: str = "resnet34",
        sar_encoder: str = "resnet18",
        encoder_weights: str | None = None,
        classes: int = 1,
    ) -> None:
        super().__init__()
        self.optical = get_encoder(
            optical_encoder, in_channels=OPTICAL_CHANNELS, depth=5, weights=encoder_weights
        )
        self.sar = get_encoder(sar_encoder, in_channels=SAR_CHANNELS, depth=5, weights=None)
        opt_ch = list(self.optical.out_channels)
        sar_ch = list(self.sar.out_channels)
        self.fuse = nn.ModuleList(
            nn.Conv2d(o + s, o, kernel_size=1) for o, s in zip(opt_ch, sar_ch, strict=True)
        )
        self.decoder = UnetDecoder(encoder_channels=opt_ch, decoder_channels=(256, 128, 64, 32, 16))
        self.head = SegmentationHead(in_channels=16, out_channels=classes, kernel_size=3)

    def forward(self, x: torch.Tensor, sar: torch.Tensor | None = None) -> torch.Tensor:
        """Return logits (B, classes, H, W).

        Args:
            x: (B, 10, H, W) optical features, or (B, 12, H, W) optical + VV, VH.
            sar: Optional (B, 2, H, W) SAR bands (only with a 10-band ``x``).
        """
        channels = x.shape[1]
        if channels == OPTICAL_CHANNELS + SAR_CHANNELS and sar is None:
            x, sar = x[:, :OPTICAL_CHANNELS], x[:, OPTICAL_CHANNELS:]
        elif channels != OPTICAL_CHANNELS:
            raise InvalidInputError(
                f"dual_encoder_unet expects 10 optical or 12 (optical + VV, VH) channels, "
                f"got {channels}"
            )
        if sar is None:
            sar = x.new_zeros((x.shape[0], SAR_CHANNELS, *x.shape[2:]))
        elif sar.shape[1] != SAR_CHANNELS:
            raise InvalidInputError(f"SAR input must have 2 channels (VV, VH), got {sar.shape[1]}")
        fused = [
            conv(torch.cat([o, s], dim=1))
            for conv, o, s in zip(self.fuse, self.optical(x), self.sar(sar), strict=True)
        ]
        out: torch.Tensor = self.head(self.decoder(fused))
        return out
