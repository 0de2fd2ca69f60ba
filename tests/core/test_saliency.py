"""saliency: Grad-CAM and gradient saliency have the right shape and range, match a hand computation,
and point where the model really looks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_core.analysis.saliency import grad_cam, last_conv, saliency_map


class LeftHalfOnly(nn.Module):
    """Zeroes the right half of the image: the output cannot depend on it."""

    def forward(self, x):
        x = x.clone()
        x[..., x.shape[-1] // 2:] = 0
        return x


def small_cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 6 * 6, 3))


@pytest.mark.parametrize("explain", [grad_cam, saliency_map])
def test_maps_have_the_input_size_and_lie_in_unit_range(explain):
    model = small_cnn()
    x = torch.randn(1, 1, 12, 12)
    heat = explain(model, x)
    assert heat.shape == (12, 12)
    assert float(heat.min()) >= 0 and float(heat.max()) == pytest.approx(1.0)
    assert not heat.requires_grad


def test_grad_cam_matches_a_hand_computation_on_the_last_conv():
    model = small_cnn().eval()
    x = torch.randn(1, 1, 12, 12)
    conv = model[3]
    assert last_conv(model) is conv
    maps = model[:4](x)  # (1, 6, 6, 6): the last conv's output
    score = model[4:](maps)[0, 2]
    (grads,) = torch.autograd.grad(score, maps)
    cam = F.relu((grads.mean(dim=(2, 3), keepdim=True) * maps).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=(12, 12), mode="bilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(grad_cam(model, x, target=2), cam / cam.max())


def test_saliency_matches_the_input_gradient_max_over_channels():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x)[0, 1], x)
    expected = grad[0].abs().amax(dim=0)
    torch.testing.assert_close(saliency_map(model, x.detach(), target=1), expected / expected.max())


def test_saliency_is_zero_where_the_model_does_not_look():
    torch.manual_seed(2)
    model = nn.Sequential(LeftHalfOnly(), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 10 * 10, 2))
    heat = saliency_map(model, torch.randn(1, 1, 10, 10))
    assert torch.all(heat[:, 5:] == 0)
    assert float(heat[:, :5].max()) == pytest.approx(1.0)


def test_grad_cam_lights_up_the_object_and_not_the_empty_side():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(0.1)  # positive filters: respond where the image is bright
        model[4].weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
    x = torch.zeros(1, 1, 16, 16)
    x[..., 4:10, 2:6] = 1.0  # a bright blob on the left, nothing on the right
    heat = grad_cam(model, x, target=0)
    assert float(heat[:, 9:].max()) == 0.0
    assert float(heat[6, 3]) > 0.5
    # Class 1 is pushed *down* by the blob: ReLU keeps nothing, an all-zero map rather than NaN.
    assert torch.all(grad_cam(model, x, target=1) == 0)


def test_one_logit_models_explain_either_class():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 1))
    x = torch.randn(1, 1, 6, 6)
    torch.testing.assert_close(saliency_map(model, x, target=0), saliency_map(model, x, target=1))
    assert grad_cam(model, x, target=1).shape == (6, 6)
    with pytest.raises(ValueError, match="target must be 0 or 1 for a one-logit model, got 2"):
        saliency_map(model, x, target=2)


def test_bad_targets_inputs_and_conv_free_models_are_clear_errors():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"class index in 0..2, got 7"):
        grad_cam(model, torch.randn(1, 1, 12, 12), target=7)
    with pytest.raises(ValueError, match=r"one normalised image of shape \(1, C, H, W\), got \(2, 1, 12, 12\)"):
        saliency_map(model, torch.randn(2, 1, 12, 12))
    with pytest.raises(ValueError, match="has none; use saliency_map"):
        grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), torch.randn(1, 1, 4, 4))


def test_explaining_leaves_the_model_as_it_was():
    model = small_cnn().train()
    x = torch.randn(1, 1, 12, 12)
    before = x.clone()
    grad_cam(model, x)
    saliency_map(model, x)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert not model[3]._forward_hooks  # the hook is removed
    torch.testing.assert_close(x, before)


def test_last_conv_is_on_the_main_path_not_a_residual_shortcut():
    from vision_core.models import zoo as models

    model = models.build("resnet", in_channels=3, num_classes=10, image_size=32, blocks_per_stage=1)
    block = model.block3_1
    assert isinstance(block.shortcut[0], nn.Conv2d)  # registered after conv2: the old pick
    assert last_conv(model) is block.conv2
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(grad_cam(model, x, target=4), grad_cam(model, x, target=4, layer=block.conv2))
    # A 1×1 convolution that is the main path's last layer is still chosen.
    head = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.Flatten(), nn.Linear(8, 3))
    assert last_conv(head) is head[2]
