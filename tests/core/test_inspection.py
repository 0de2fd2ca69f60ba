"""Inspection: filters, feature maps (equal to a manual forward), top-activating images, figures."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_core.analysis import inspection
from vision_core.figures import inspection as inspect_figures
from vision_core.models import zoo as models


def tiny(batchnorm: bool = True) -> nn.Sequential:
    torch.manual_seed(0)
    layers = [("conv1", nn.Conv2d(3, 4, 3, padding=1))]
    if batchnorm:
        layers.append(("bn1", nn.BatchNorm2d(4)))
    layers += [("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)), ("dropout1", nn.Dropout(0.5)),
               ("conv2", nn.Conv2d(4, 5, 3)), ("relu2", nn.ReLU()),
               ("flatten", nn.Flatten()), ("fc1", nn.Linear(5 * 2 * 2, 3)), ("relu3", nn.ReLU())]
    return nn.Sequential(OrderedDict(layers))


def test_layer_names_stop_at_flatten_and_skip_dropout():
    model = tiny()
    assert inspection.layer_names(model) == ["conv1", "bn1", "relu1", "pool1", "conv2", "relu2"]
    assert inspection.conv_and_pool_names(model) == ["conv1", "pool1", "conv2"]


def test_layer_names_of_the_zoo_lenet():
    lenet = models.build("lenet", in_channels=1, num_classes=10, image_size=32)
    assert inspection.layer_names(lenet) == ["conv1", "pool1", "relu1", "conv2", "pool2", "relu2"]


def test_feature_maps_equal_a_manual_forward_and_restore_training_mode():
    model = tiny()
    model.train()
    x = torch.rand(3, 8, 8)
    maps = inspection.feature_maps(model, x)
    assert model.training  # put back
    assert list(maps) == inspection.layer_names(model)
    model.eval()
    with torch.no_grad():
        expected = x.unsqueeze(0)
        for name, layer in model.named_children():
            expected = layer(expected)
            if name in maps:
                torch.testing.assert_close(maps[name], expected[0])
    conv1 = F.conv2d(x.unsqueeze(0), model.conv1.weight, model.conv1.bias, padding=1)[0]
    torch.testing.assert_close(maps["conv1"], conv1)
    assert maps["pool1"].shape == (4, 4, 4) and maps["conv2"].shape == (5, 2, 2)


def test_feature_maps_do_not_touch_batchnorm_statistics():
    model = tiny()
    model.train()
    before = model.bn1.running_mean.clone()
    inspection.feature_maps(model, torch.rand(1, 3, 8, 8))
    assert torch.equal(model.bn1.running_mean, before)
    assert model.bn1.num_batches_tracked.item() == 0


def test_feature_maps_of_some_layers_and_bad_requests():
    model = tiny()
    maps = inspection.feature_maps(model, torch.rand(3, 8, 8), layers=["conv2", "conv1"])
    assert list(maps) == ["conv1", "conv2"]  # network order
    with pytest.raises(ValueError, match="fc1"):
        inspection.feature_maps(model, torch.rand(3, 8, 8), layers=["fc1"])
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\)"):
        inspection.feature_maps(model, torch.rand(2, 3, 8, 8))


def test_first_layer_filters_are_a_copy_of_the_first_conv():
    model = tiny()
    filters = inspection.first_layer_filters(model)
    assert torch.equal(filters, model.conv1.weight)
    filters += 1
    assert not torch.equal(filters, model.conv1.weight)
    with pytest.raises(ValueError, match="no Conv2d"):
        inspection.first_layer_filters(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_filters_as_images_scale_each_filter_to_0_1():
    weights = torch.stack([torch.arange(12.0).view(3, 2, 2) - 5, torch.full((3, 2, 2), 7.0)])  # (2, 3, 2, 2)
    images = inspection.filters_as_images(weights)
    assert images.shape == weights.shape
    assert images[0].min() == 0 and images[0].max() == 1
    torch.testing.assert_close(images[0], (weights[0] + 5) / 11)
    assert torch.all(images[1] == 0.5)  # constant filter
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        inspection.filters_as_images(torch.zeros(3, 3))


def test_top_activating_finds_the_brightest_images_for_a_channel():
    # One 1×1 conv that copies the input: channel 0's mean activation is each image's mean brightness.
    conv = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        conv.bias.zero_()
    model = nn.Sequential(OrderedDict([("conv1", conv), ("flatten", nn.Flatten())]))
    brightness = torch.tensor([0.1, 0.9, 0.5, 0.7, 0.2])
    images = brightness.view(5, 1, 1, 1).expand(5, 1, 4, 4).clone()
    images[0, 0, 0, 0] = 10.0  # one very bright pixel: wins under max, not under mean (mean = 0.72)
    idx, scores = inspection.top_activating(model, "conv1", 0, images, k=3, batch_size=2)
    assert idx.tolist() == [1, 0, 3]
    torch.testing.assert_close(scores, torch.tensor([0.9, (10 + 15 * 0.1) / 16, 0.7]))
    idx, _ = inspection.top_activating(model, "conv1", 0, images, k=2, reduce="max")
    assert idx.tolist() == [0, 1]
    idx, _ = inspection.top_activating(model, "conv1", 1, images, k=1)  # the negated channel likes dark images
    assert idx.tolist() == [4]
    assert len(inspection.top_activating(model, "conv1", 0, images, k=50)[0]) == 5


def test_top_activating_rejects_bad_arguments():
    model = tiny()
    images = torch.rand(4, 3, 8, 8)
    with pytest.raises(ValueError, match="7"):
        inspection.top_activating(model, "conv1", 7, images)
    with pytest.raises(ValueError, match="'median'"):
        inspection.top_activating(model, "conv1", 0, images, reduce="median")
    with pytest.raises(ValueError, match="fc1"):
        inspection.top_activating(model, "fc1", 0, images)


# --------------------------------------------------------------------------- figures


def test_filter_grid_shows_rgb_filters_as_colour_images():
    images = inspection.filters_as_images(torch.randn(5, 3, 3, 3))
    fig = inspect_figures.filter_grid(images, cols=4)
    tiles = [t for t in fig.data if t.type == "image"]
    assert len(tiles) == 5
    assert tiles[0].z.shape[-1] == 3
    assert (tiles[2].z[..., 1] == (images[2, 1] * 255).round().numpy()).all()


def test_filter_grid_shows_one_grey_tile_per_channel_otherwise():
    fig = inspect_figures.filter_grid(inspection.filters_as_images(torch.randn(2, 2, 3, 3)))
    tiles = [t for t in fig.data if t.type == "image"]
    assert len(tiles) == 4
    assert (tiles[0].z[..., 0] == tiles[0].z[..., 2]).all()
    assert "filter 1 · ch 0" in [a.text for a in fig.layout.annotations]


def test_feature_map_grid_has_one_heatmap_per_channel_up_to_the_cap():
    maps = torch.randn(20, 5, 6)
    fig = inspect_figures.feature_map_grid(maps, max_channels=8)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == 8
    assert (heatmaps[3].z == maps[3].numpy()).all()
    assert "channel 3" in [a.text for a in fig.layout.annotations]


def test_time_lapse_frame_shows_the_step_filters_and_maps():
    fig = inspect_figures.time_lapse_frame(torch.randn(6, 1, 5, 5), torch.randn(6, 4, 4), "conv1", step=40, epoch=1)
    assert "step 40" in fig.layout.title.text
    assert len([t for t in fig.data if t.type == "image"]) == 6
    assert len([t for t in fig.data if t.type == "heatmap"]) == 6


def test_top_activating_grid_titles_carry_index_class_and_score():
    fig = inspect_figures.top_activating_grid(torch.rand(2, 1, 4, 4), [7, 3], [1.5, 0.25], ["cat", "dog"])
    titles = " ".join(a.text for a in fig.layout.annotations)
    assert "#7" in titles and "cat" in titles and "1.50" in titles


def test_feature_maps_of_a_module_that_is_not_a_sequential_use_hooks():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 2, 3)
            self.relu1 = nn.ReLU()
            self.flatten = nn.Flatten()

        def forward(self, x):
            return self.flatten(self.relu1(self.conv1(x)))

    net = Net()
    x = torch.rand(1, 1, 5, 5)
    maps = inspection.feature_maps(net, x)
    assert list(maps) == ["conv1", "relu1"]
    torch.testing.assert_close(maps["relu1"], F.relu(net.conv1(x))[0].detach())
    assert not net.conv1._forward_hooks  # hooks removed
