"""The networks: the paper's layer recipe, output layout, and that they learn."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spinegui.core.errors import SpineguiError
from spinegui.core.templates import get_template
from spinegui.ml.network import (
    IntegralNet,
    PaperCNN,
    build_network,
    count_parameters,
    soft_argmax,
)
from spinegui.ml.presets import PRESETS, Preset, get_preset


@pytest.mark.parametrize("arch", ["paper", "integral"])
@pytest.mark.parametrize("template", ["T1-L5", "C7-L5"])
def test_output_shape_and_attributes(arch, template):
    net = build_network(arch, template, "tiny").eval()
    t = get_template(template)
    out = net(torch.rand(3, 1, 64, 32))
    assert out.shape == (3, t.n_outputs)
    assert out.reshape(3, t.n_vertebrae, 4, 2).shape == (3, t.n_vertebrae, 4, 2)
    assert (net.arch, net.template, net.input_hw, net.preset) == (arch, template, (64, 32), "tiny")


def test_paper_cnn_follows_the_paper():
    net = PaperCNN(144, (1024, 512))
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(3, 3)] * 10
    assert [m.out_channels for m in convs] == [16, 16, 32, 32, 64, 64, 128, 128, 256, 256]
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 5
    assert [m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm2d)] == [
        16,
        32,
        64,
        128,
        256,
    ]
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.25] * 5
    fcs = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in fcs] == [
        (256 * 32 * 16, 512),
        (512, 512),
        (512, 144),
    ]
    assert isinstance(net.head[-1], nn.Linear)  # linear output, as in the paper
    acts = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 12  # two per block, two in the head
    assert 68_000_000 < count_parameters(net) < 69_000_000


def test_block_order_is_conv_act_conv_act_pool_bn_dropout():
    block = PaperCNN(8, (64, 32)).backbone.blocks[0].body
    kinds = [type(m) for m in block]
    assert kinds == [
        nn.Conv2d,
        nn.LeakyReLU,
        nn.Conv2d,
        nn.LeakyReLU,
        nn.MaxPool2d,
        nn.BatchNorm2d,
        nn.Dropout,
    ]


def test_integral_net_is_much_smaller_than_the_paper_head_at_paper_size():
    integral = build_network("integral", "T1-L5", "paper")
    assert count_parameters(integral) < 3_000_000
    assert count_parameters(integral) == count_parameters(
        build_network("integral", "T1-L5", "tiny")
    )


def test_soft_argmax_returns_cell_centres():
    logits = torch.full((1, 2, 8, 4), -1e4)
    logits[0, 0, 3, 1] = 0.0  # row 3, column 1
    logits[0, 1, 7, 0] = 0.0
    xy = soft_argmax(logits)
    assert torch.allclose(xy[0, 0], torch.tensor([1.5 / 4, 3.5 / 8]))
    assert torch.allclose(xy[0, 1], torch.tensor([0.5 / 4, 7.5 / 8]))
    flat = soft_argmax(torch.zeros(1, 1, 8, 4))
    assert torch.allclose(flat, torch.tensor([[[0.5, 0.5]]]))


def test_integral_heatmap_is_quarter_resolution_and_maps_to_flat_layout():
    net = IntegralNet(8, (64, 32)).eval()
    x = torch.rand(2, 1, 64, 32)
    assert net.heatmap_logits(x).shape == (2, 8, 16, 8)
    logits = torch.full((2, 8, 16, 8), -1e4)
    logits[:, 5, 2, 6] = 0.0
    net.heatmap_logits = lambda _x: logits  # type: ignore[method-assign]
    out = net(x)
    assert torch.allclose(out[:, 10], torch.tensor(6.5 / 8))  # x of landmark 5
    assert torch.allclose(out[:, 11], torch.tensor(2.5 / 16))  # y of landmark 5


def test_integral_starts_at_image_centre():
    out = build_network("integral", "T1-L5", "tiny").eval()(torch.rand(2, 1, 64, 32))
    assert torch.allclose(out, torch.full_like(out, 0.5))


@pytest.mark.parametrize("arch", ["paper", "integral"])
def test_network_learns_where_a_bright_dot_is(arch):
    """Training must beat the best image-blind answer (predicting the mean target)."""
    torch.manual_seed(0)
    net = build_network(arch, "T1-L5", "tiny")
    x = torch.zeros(4, 1, 64, 32)
    target = torch.zeros(4, 136)
    for i, (r, c) in enumerate([(10, 5), (50, 25), (30, 10), (20, 28)]):
        x[i, 0, r - 1 : r + 2, c - 1 : c + 2] = 1.0
        target[i, 0::2] = (c + 0.5) / 32
        target[i, 1::2] = (r + 0.5) / 64
    blind = float(((target - target.mean(0)) ** 2).mean())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(40):
        loss = ((net(x) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.25 * blind


def test_bad_arch_and_size_raise_user_errors():
    with pytest.raises(SpineguiError, match="architecture"):
        build_network("resnet", "T1-L5", "tiny")
    with pytest.raises(SpineguiError, match="multiples of 32"):
        build_network("paper", "T1-L5", Preset("odd", 100, 50))


def test_presets():
    assert get_preset("paper").hw == (1024, 512)
    assert get_preset("tiny").hw == (64, 32)
    assert all(p.height % 32 == 0 and p.width % 32 == 0 for p in PRESETS.values())
    assert all(p.height == 2 * p.width for p in PRESETS.values())
    with pytest.raises(SpineguiError, match="Known presets"):
        get_preset("huge")
