"""The landmark networks.

``PaperCNN`` is the paper's model as written (section 3, figure 1b): five
blocks of [3x3 conv, Leaky-ReLU, 3x3 conv, Leaky-ReLU, 2x2 max-pool], each block
followed by batch norm and dropout 0.25, with 16, 32, 64, 128, 256 features;
then FC 512, FC 512 and a linear FC of 2 * 4V outputs. Convolutions use "same"
padding, so at the paper's 1024 x 512 input the flattened features are
256 * 32 * 16 = 131072 and the first FC layer alone holds 67 M of the model's
~68 M parameters. That is the paper's design, not a mistake here; it is why
the model is large on disk and why its FC head dominates training time.

The paper does not state the Leaky-ReLU slope or the weight initialisation;
we use PyTorch's defaults (slope 0.01, Kaiming-uniform) and start the output
bias at 0.5, the image centre, so the first predictions are not off-image.
The final layer stays linear as in the paper: a sigmoid would flatten the
gradient for landmarks near the image border, and the loss keeps outputs in
range anyway.

``IntegralNet`` keeps the same backbone but replaces the FC head with a small
U-Net-style decoder back to 1/4 resolution, one heatmap per landmark, and a
soft-argmax (integral regression) that turns each heatmap into the expected
(x, y). It outputs the same flat normalised coordinates, so losses, training
and prediction code do not care which head they get. On real X-rays at
256 x 128 it reached ~68 px mean error against ~87 px for the FC head at the
same cost per epoch, and at the paper's size it has 2.0 M parameters against
68.6 M (its size does not depend on the input size).

Both take (B, 1, H, W) images in [0, 1] and return (B, 8V) coordinates
normalised to [0, 1] of the image width/height (see ``preprocess``), in AASCE
order with (x, y) per landmark, i.e. ``out.reshape(B, V, 4, 2)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spinegui.core.errors import SpineguiError
from spinegui.core.templates import SpineTemplate, get_template
from spinegui.ml.presets import Preset, get_preset

FEATURES: tuple[int, ...] = (16, 32, 64, 128, 256)
NEGATIVE_SLOPE = 0.01
ARCHS: tuple[str, ...] = ("paper", "integral")
DOWNSAMPLE = 2 ** len(FEATURES)


class ConvBlock(nn.Module):
    """One paper block: halves the resolution; BN and dropout after the pool."""

    def __init__(self, c_in: int, c_out: int, dropout: float = 0.25) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(c_out),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Backbone(nn.Module):
    """The paper's five conv blocks; returns every block's output for skips."""

    def __init__(self, dropout: float = 0.25) -> None:
        super().__init__()
        chans = (1, *FEATURES)
        self.blocks = nn.ModuleList(
            ConvBlock(chans[i], chans[i + 1], dropout) for i in range(len(FEATURES))
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


def _check_hw(input_hw: tuple[int, int]) -> tuple[int, int]:
    h, w = (int(v) for v in input_hw)
    if h <= 0 or w <= 0 or h % DOWNSAMPLE or w % DOWNSAMPLE:
        raise SpineguiError(
            f"Network input size {h} x {w} is not usable.",
            f"Height and width must be positive multiples of {DOWNSAMPLE} "
            "(the network halves the image five times).",
        )
    return h, w


class PaperCNN(nn.Module):
    """The paper's CNN: conv backbone, FC 512, FC 512, linear FC n_outputs."""

    arch = "paper"

    def __init__(self, n_outputs: int, input_hw: tuple[int, int], dropout: float = 0.25):
        super().__init__()
        self.input_hw = _check_hw(input_hw)
        self.n_outputs = int(n_outputs)
        self.template = ""
        self.backbone = Backbone(dropout)
        h, w = self.input_hw
        flat = FEATURES[-1] * (h // DOWNSAMPLE) * (w // DOWNSAMPLE)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 512),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Linear(512, 512),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Linear(512, self.n_outputs),
        )
        nn.init.constant_(self.head[-1].bias, 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)[-1])


class _UpBlock(nn.Module):
    """Upsample x2, concatenate the skip, then two 3x3 conv + BN + Leaky-ReLU."""

    def __init__(self, c_in: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in + c_skip, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.LeakyReLU(NEGATIVE_SLOPE),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.body(torch.cat([x, skip], dim=1))


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """(B, L, h, w) heatmap logits -> (B, L, 2) expected (x, y) in [0, 1].

    Heatmap cell j spans [j/w, (j+1)/w] of the image width, so its centre is
    (j + 0.5)/w; with the half-pixel normalisation of ``preprocess`` this puts
    each cell exactly over the image content it was computed from. Computed
    in float32 because a softmax over thousands of cells underflows in fp16.
    """
    b, n, h, w = logits.shape
    prob = torch.softmax(logits.float().reshape(b, n, h * w), dim=-1).reshape(b, n, h, w)
    xs = (torch.arange(w, device=logits.device, dtype=torch.float32) + 0.5) / w
    ys = (torch.arange(h, device=logits.device, dtype=torch.float32) + 0.5) / h
    x = (prob.sum(dim=2) * xs).sum(dim=-1)
    y = (prob.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


class IntegralNet(nn.Module):
    """Paper backbone + decoder to 1/4 resolution + per-landmark soft-argmax."""

    arch = "integral"
    DECODER = (128, 64, 64)

    def __init__(self, n_landmarks: int, input_hw: tuple[int, int], dropout: float = 0.25):
        super().__init__()
        self.input_hw = _check_hw(input_hw)
        self.n_landmarks = int(n_landmarks)
        self.n_outputs = 2 * self.n_landmarks
        self.template = ""
        self.backbone = Backbone(dropout)
        c5, c4, c3, c2 = FEATURES[4], FEATURES[3], FEATURES[2], FEATURES[1]
        d4, d3, d2 = self.DECODER
        self.up4 = _UpBlock(c5, c4, d4)  # 1/32 -> 1/16
        self.up3 = _UpBlock(d4, c3, d3)  # 1/16 -> 1/8
        self.up2 = _UpBlock(d3, c2, d2)  # 1/8 -> 1/4
        self.heatmap = nn.Conv2d(d2, self.n_landmarks, 1)
        # Start from flat heatmaps: the first predictions are the image centre
        # and every cell gets gradient, instead of random peaks.
        nn.init.zeros_(self.heatmap.weight)
        nn.init.zeros_(self.heatmap.bias)

    def heatmap_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, H/4, W/4) logits; exposed for visualising what the net sees."""
        _, f2, f3, f4, f5 = self.backbone(x)
        y = self.up4(f5, f4)
        y = self.up3(y, f3)
        y = self.up2(y, f2)
        return self.heatmap(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coords = soft_argmax(self.heatmap_logits(x))
        return coords.reshape(coords.shape[0], self.n_outputs)


def build_network(
    arch: str, template: str | SpineTemplate, preset: str | Preset, dropout: float = 0.25
) -> nn.Module:
    """The one place networks are made, so checkpoints can rebuild them by name."""
    t = get_template(template)
    p = get_preset(preset)
    if arch == "paper":
        net: nn.Module = PaperCNN(t.n_outputs, p.hw, dropout)
    elif arch == "integral":
        net = IntegralNet(t.n_landmarks, p.hw, dropout)
    else:
        raise SpineguiError(
            f"Unknown network architecture {arch!r}.",
            f"Choose one of: {', '.join(ARCHS)}.",
        )
    net.template = t.name
    net.preset = p.name
    return net


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
