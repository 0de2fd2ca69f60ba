"""Model zoo: exact tutorial layers and parameter counts, every model on every embedded-like input, clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_core.models import zoo as models

# Hand-computed parameter counts with each recipe's own input (weights + biases).
RECIPE_PARAMS = {
    # V0: 784·10+10 = 7,850 + 10·10+10 = 110
    "linear": ((1, 28, 28), 10, 7_960),
    # V1: the same two Linear layers; ReLUs have no parameters
    "mlp": ((1, 28, 28), 10, 7_960),
    # TinyVGG(10): conv1 1·10·9+10 = 100, conv2..4 3·(10·10·9+10) = 2,730, fc1 490·10+10 = 4,910
    "tinyvgg": ((1, 28, 28), 10, 7_740),
    # LeNet: 1·6·25+6 = 156, 6·16·25+16 = 2,416, 400·120+120 = 48,120, 120·84+84 = 10,164, 84·10+10 = 850
    "lenet": ((1, 32, 32), 10, 61_706),
    # CIFAR Net: as LeNet but conv1 3·6·25+6 = 456
    "cifar_net": ((3, 32, 32), 10, 62_006),
    # MNIST CNN: 1·32·25+32 = 832, 32·64·25+64 = 51,264, 3136·1024+1024 = 3,212,288, 1024·10+10 = 10,250
    "mnist_cnn": ((1, 28, 28), 10, 3_274_634),
    # Smile CNN: 3·32·9+32 = 896, 32·64·9+64 = 18,496, 64·128·9+128 = 73,856, 128·256·9+256 = 295,168, 256+1 = 257
    "smile_cnn": ((3, 64, 64), 2, 388_673),
    # Cats vs dogs: 3·3·9+3 = 84, 3·6·9+6 = 168, 6144·1000+1000 = 6,145,000, 1000·250+250 = 250,250,
    # 250·60+60 = 15,060, 60·2+2 = 122
    "cats_dogs_cnn": ((3, 64, 64), 2, 6_410_684),
}

# The seeds' layers, in order, as models.describe writes them (recipe input, recipe classes).
RECIPE_LAYERS = {
    "linear": ["flatten Flatten", "fc1 Linear(784 → 10)", "fc2 Linear(10 → 10)"],
    "mlp": ["flatten Flatten", "fc1 Linear(784 → 10)", "relu1 ReLU", "fc2 Linear(10 → 10)", "relu2 ReLU"],
    "tinyvgg": [
        "conv1 Conv2d(1→10, k=3, s=1, p=1)", "relu1 ReLU", "conv2 Conv2d(10→10, k=3, s=1, p=1)", "relu2 ReLU",
        "pool1 MaxPool2d(k=2, s=2)",
        "conv3 Conv2d(10→10, k=3, s=1, p=1)", "relu3 ReLU", "conv4 Conv2d(10→10, k=3, s=1, p=1)", "relu4 ReLU",
        "pool2 MaxPool2d(k=2, s=2)", "flatten Flatten", "fc1 Linear(490 → 10)"],
    "lenet": [  # MaxPool before ReLU, as the seed writes it
        "conv1 Conv2d(1→6, k=5, s=1, p=0)", "pool1 MaxPool2d(k=2, s=2)", "relu1 ReLU",
        "conv2 Conv2d(6→16, k=5, s=1, p=0)", "pool2 MaxPool2d(k=2, s=2)", "relu2 ReLU", "flatten Flatten",
        "fc1 Linear(400 → 120)", "relu3 ReLU", "fc2 Linear(120 → 84)", "relu4 ReLU", "fc3 Linear(84 → 10)"],
    "cifar_net": [
        "conv1 Conv2d(3→6, k=5, s=1, p=0)", "relu1 ReLU", "pool1 MaxPool2d(k=2, s=2)",
        "conv2 Conv2d(6→16, k=5, s=1, p=0)", "relu2 ReLU", "pool2 MaxPool2d(k=2, s=2)", "flatten Flatten",
        "fc1 Linear(400 → 120)", "relu3 ReLU", "fc2 Linear(120 → 84)", "relu4 ReLU", "fc3 Linear(84 → 10)"],
    "mnist_cnn": [
        "conv1 Conv2d(1→32, k=5, s=1, p=2)", "relu1 ReLU", "pool1 MaxPool2d(k=2, s=2)",
        "conv2 Conv2d(32→64, k=5, s=1, p=2)", "relu2 ReLU", "pool2 MaxPool2d(k=2, s=2)", "flatten Flatten",
        "fc1 Linear(3136 → 1024)", "relu3 ReLU", "dropout1 Dropout(p=0.5)", "fc2 Linear(1024 → 10)"],
    "smile_cnn": [
        "conv1 Conv2d(3→32, k=3, s=1, p=1)", "relu1 ReLU", "pool1 MaxPool2d(k=2, s=2)", "dropout1 Dropout(p=0.5)",
        "conv2 Conv2d(32→64, k=3, s=1, p=1)", "relu2 ReLU", "pool2 MaxPool2d(k=2, s=2)", "dropout2 Dropout(p=0.5)",
        "conv3 Conv2d(64→128, k=3, s=1, p=1)", "relu3 ReLU", "pool3 MaxPool2d(k=2, s=2)",
        "conv4 Conv2d(128→256, k=3, s=1, p=1)", "relu4 ReLU", "avgpool AvgPool2d(k=8×8, s=8×8)", "flatten Flatten",
        "fc1 Linear(256 → 1)"],
    "cats_dogs_cnn": [  # no activation between the Linear layers
        "conv1 Conv2d(3→3, k=3, s=1, p=1)", "relu1 ReLU", "pool1 MaxPool2d(k=2, s=2)",
        "conv2 Conv2d(3→6, k=3, s=1, p=1)", "relu2 ReLU", "flatten Flatten",
        "fc1 Linear(6144 → 1000)", "fc2 Linear(1000 → 250)", "fc3 Linear(250 → 60)", "fc4 Linear(60 → 2)"],
}

# Inputs shaped like the embedded datasets: digits 1×32×32 (10 classes), shapes 3×32×32 (6), MNIST-like 1×28×28,
# and a two-class colour set (smile_cnn answers with one logit there).
EMBEDDED_INPUTS = [((1, 32, 32), 10), ((3, 32, 32), 6), ((1, 28, 28), 10), ((3, 32, 32), 2)]


def build(name, shape, classes, **options):
    return models.build(name, in_channels=shape[0], num_classes=classes, image_size=shape[1:], **options)


def layer_list(model):
    return [f"{name} {models.describe(layer)}" for name, layer in model.named_children()]


@pytest.mark.parametrize("name", list(RECIPE_PARAMS))
def test_recipe_input_gives_the_tutorials_parameter_count(name):
    shape, classes, params = RECIPE_PARAMS[name]
    assert models.total_params(build(name, shape, classes)) == params


@pytest.mark.parametrize("name", list(RECIPE_LAYERS))
def test_recipe_input_gives_the_tutorials_layers_in_order(name):
    shape, classes, _ = RECIPE_PARAMS[name]
    assert layer_list(build(name, shape, classes)) == RECIPE_LAYERS[name]


def test_every_model_is_registered_with_its_recipe_and_source():
    assert set(RECIPE_LAYERS) | {"resnet", "airbench", "custom"} == set(models.list_models())
    for name in RECIPE_LAYERS:
        info = models.model_info(name)
        assert info.recipe_input == RECIPE_PARAMS[name][0]
        assert info.title and info.description and info.source
        assert "strict_input" in info.options


def test_small_resnet_has_residual_blocks_and_a_modest_size():
    model = build("resnet", (3, 32, 32), 10)
    names = [name for name, _ in model.named_children()]
    assert names[:3] == ["conv1", "bn1", "relu1"] and names[-3:] == ["avgpool", "flatten", "fc1"]
    assert sum(isinstance(m, models.BasicBlock) for m in model.children()) == 6
    assert 100_000 < models.total_params(model) < 300_000
    assert models.total_params(build("resnet", (3, 32, 32), 10, width=8)) < models.total_params(model)


def test_cats_dogs_keeps_almost_all_parameters_in_its_first_linear():
    model = build("cats_dogs_cnn", (3, 64, 64), 2)
    assert models.total_params(model.fc1) / models.total_params(model) == pytest.approx(6_145_000 / 6_410_684)
    assert 0.95 < 6_145_000 / 6_410_684 < 0.97


def test_cats_dogs_forward_is_the_functional_chain_without_activations_between_linears():
    model = build("cats_dogs_cnn", (3, 16, 16), 2).eval()
    x = torch.rand(2, 3, 16, 16)
    h = F.relu(F.conv2d(x, model.conv1.weight, model.conv1.bias, padding=1))
    h = F.relu(F.conv2d(F.max_pool2d(h, 2), model.conv2.weight, model.conv2.bias, padding=1)).flatten(1)
    for fc in (model.fc1, model.fc2, model.fc3, model.fc4):
        h = F.linear(h, fc.weight, fc.bias)
    torch.testing.assert_close(model(x), h)


def test_smile_cnn_is_one_logit_with_global_average_pooling():
    model = build("smile_cnn", (3, 64, 64), 2)
    assert models.num_outputs(model) == 1
    assert model.avgpool.kernel_size == (8, 8)
    other = build("smile_cnn", (3, 40, 48), 10)  # 40 → 5 and 48 → 6 after three poolings
    assert other.avgpool.kernel_size == (5, 6) and other.fc1.in_features == 256
    assert other(torch.zeros(2, 3, 40, 48)).shape == (2, 10)


def test_mlp_can_drop_the_relu_on_the_logits():
    with_relu = build("mlp", (1, 28, 28), 10).eval()
    assert isinstance(list(with_relu)[-1], nn.ReLU)
    assert (with_relu(torch.randn(8, 1, 28, 28)) >= 0).all()  # the seed's clipped logits
    without = build("mlp", (1, 28, 28), 10, relu_on_logits=False)
    assert isinstance(list(without)[-1], nn.Linear)


@pytest.mark.parametrize("name", models.list_models())
@pytest.mark.parametrize("shape,classes", EMBEDDED_INPUTS)
def test_every_model_takes_every_embedded_input(name, shape, classes):
    model = build(name, shape, classes).eval()
    expected = 1 if name == "smile_cnn" and classes == 2 else classes
    assert model(torch.rand(2, *shape)).shape == (2, expected)
    assert models.summary(model, shape)[-1].output_shape == (expected,)
    assert models.num_outputs(model) == expected
    convs = [n for n, m in model.named_children() if isinstance(m, nn.Conv2d)]
    assert not convs or convs[0] == "conv1"  # the first-layer filters the inspection pages show


@pytest.mark.parametrize("name", models.list_models())
def test_strict_input_keeps_the_recipes_first_linear(name):
    c, h, w = models.model_info(name).recipe_input
    recipe = build(name, (c, h, w), 10)
    strict = build(name, (c, h + 4, w + 4), 10, strict_input=True)
    def first_linear(model):
        return next(m for m in model.modules() if isinstance(m, nn.Linear))

    assert first_linear(strict).in_features == first_linear(recipe).in_features


def test_lenet_adapts_to_28_by_28_unless_strict():
    assert build("lenet", (1, 28, 28), 10).fc1.in_features == 256  # 16·4·4
    model = build("lenet", (1, 28, 28), 10, strict_input=True)
    assert model.fc1.in_features == 400


def test_lenet_on_28_by_28_with_the_recipes_flatten_is_explained():
    model = build("lenet", (1, 28, 28), 10, strict_input=True)
    with pytest.raises(models.ShapeMismatchError, match=r"fc1: Linear\(400 → 120\).*got 256") as err:
        models.check_input(model, (1, 28, 28))
    message = str(err.value)
    assert "16×4×4" in message and "32×32" in message and "padding=2" in message
    assert err.value.layer == "fc1" and [n for n, _, _ in err.value.traced][-1] == "flatten"
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("name,size,layer", [("tinyvgg", 2, "pool2"), ("lenet", 8, "conv2"),
                                             ("smile_cnn", 4, "pool3"), ("cats_dogs_cnn", 1, "pool1")])
def test_too_small_inputs_fail_at_build_naming_the_layer(name, size, layer):
    with pytest.raises(models.ShapeMismatchError, match=rf"^{layer}: .*at least") as err:
        build(name, (models.model_info(name).recipe_input[0], size, size), 10)
    assert err.value.layer == layer
    assert "recipe uses" in str(err.value)


def test_smallest_input_is_exact_for_lenet():
    model = build("lenet", (1, 32, 32), 10)
    assert models.smallest_input(list(model)) == (16, 16)  # 16 → 12 → 6 → 2 → 1
    build("lenet", (1, 16, 16), 10)
    with pytest.raises(models.ShapeMismatchError, match="at least 16×16"):
        build("lenet", (1, 15, 15), 10)


def test_wrong_channel_count_is_explained():
    model = build("lenet", (1, 32, 32), 10)
    with pytest.raises(models.ShapeMismatchError, match=r"conv1: .*expects 1 channel\(s\) but the input has 3"):
        models.check_input(model, (3, 32, 32))


def test_check_input_runs_in_eval_mode_and_restores_training():
    model = build("resnet", (3, 32, 32), 10).train()  # BatchNorm refuses a batch of one in training mode
    models.check_input(model, (3, 32, 32))
    assert model.training and model.bn1.training
    frozen = build("lenet", (1, 32, 32), 10).eval()
    models.check_input(frozen, (1, 32, 32))
    assert not frozen.training


def test_summary_rows_for_lenet():
    rows = models.summary(build("lenet", (1, 32, 32), 10), (1, 32, 32))
    assert [r.output_shape for r in rows[:7]] == [(6, 28, 28), (6, 14, 14), (6, 14, 14), (16, 10, 10),
                                                 (16, 5, 5), (16, 5, 5), (400,)]
    assert rows[0].description == "Conv2d(1→6, k=5, s=1, p=0)" and rows[0].kind == "Conv2d"
    assert [r.params for r in rows if r.params] == [156, 2_416, 48_120, 10_164, 850]
    frozen = build("lenet", (1, 32, 32), 10)
    frozen.conv1.requires_grad_(False)
    row = models.summary(frozen, (1, 32, 32))[0]
    assert (row.params, row.trainable) == (156, 0)


def test_receptive_fields_of_lenet_by_hand():
    rows = {r.name: r for r in models.summary(build("lenet", (1, 32, 32), 10), (1, 32, 32))}
    # conv1: 1 + 4·1 = 5; pool1: 5 + 1·1 = 6, jump 2; conv2: 6 + 4·2 = 14; pool2: 14 + 1·2 = 16, jump 4
    assert [(rows[n].receptive_field, rows[n].jump) for n in ("conv1", "pool1", "relu1", "conv2", "pool2")] == [
        (5, 1), (6, 2), (6, 2), (14, 2), (16, 4)]
    assert rows["fc1"].receptive_field is None  # a Linear layer sees the whole input


def test_custom_template_options():
    model = build("custom", (3, 32, 32), 6, blocks=2, convs_per_block=2, channels=[8, 16], batchnorm=True,
                  dropout=0.25, linear_layers=2, hidden_units=32)
    kinds = [type(m).__name__ for m in model]
    assert kinds == (["Conv2d", "BatchNorm2d", "ReLU"] * 2 + ["MaxPool2d"]) * 2 + ["Flatten"] + (
        ["Linear", "ReLU", "Dropout"] * 2) + ["Linear"]
    assert model.fc1.in_features == 16 * 8 * 8 and model.conv3.in_channels == 8
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 6)


def test_custom_template_pool_stride_and_no_blocks():
    avg = build("custom", (1, 28, 28), 10, blocks=1, pool="avg", pool_size=4, kernel_size=5, padding=0, stride=1)
    assert isinstance(avg.pool1, nn.AvgPool2d) and avg.fc1.in_features == 16 * 6 * 6  # 28 → 24 → 6
    strided = build("custom", (1, 28, 28), 10, blocks=1, pool=None, stride=2, linear_layers=0)
    assert layer_list(strided) == ["conv1 Conv2d(1→16, k=3, s=2, p=1)", "relu1 ReLU", "flatten Flatten",
                                   "fc1 Linear(3136 → 10)"]  # 14·14·16
    assert layer_list(build("custom", (1, 28, 28), 10, blocks=0)) == [
        "flatten Flatten", "fc1 Linear(784 → 64)", "relu_fc1 ReLU", "fc2 Linear(64 → 10)"]
    assert build("custom", (1, 32, 32), 10, strict_input=True).fc1.in_features == 16 * 7 * 7  # sized for 28×28


@pytest.mark.parametrize("options,error,match", [
    ({"convs_per_block": 4}, ValueError, "convs_per_block must be 0..3, got 4"),
    ({"linear_layers": 3}, ValueError, "linear_layers must be 0..2, got 3"),
    ({"blocks": -1}, ValueError, "blocks must be 0..12, got -1"),
    ({"dropout": 1.0}, ValueError, r"dropout must be a probability in \[0, 1\), got 1.0"),
    ({"pool": "min"}, ValueError, "pool must be 'max', 'avg' or None, got 'min'"),
    ({"channels": [8]}, ValueError, r"one width per block: 2 block\(s\), got \[8\]"),
    ({"kernel_size": 0}, ValueError, "kernel_size must be ≥ 1, got 0"),
    ({"padding": -1}, ValueError, "padding must be ≥ 0, got -1"),
    ({"hidden_units": "big"}, TypeError, "hidden_units must be an integer, got 'big'"),
    ({"batchnorm": "yes"}, TypeError, "batchnorm must be True or False"),
])
def test_custom_template_rejects_bad_options_by_name(options, error, match):
    with pytest.raises(error, match=match):
        build("custom", (1, 28, 28), 10, **options)


def test_unknown_names_and_options_list_the_known_ones():
    with pytest.raises(ValueError, match="Unknown model 'vgg16'; known models: linear, mlp, tinyvgg, lenet"):
        build("vgg16", (1, 32, 32), 10)
    with pytest.raises(TypeError, match=r"lenet does not take option\(s\) \['hidden_units'\]; allowed: "
                                        r"\['strict_input'\]"):
        build("lenet", (1, 32, 32), 10, hidden_units=3)


@pytest.mark.parametrize("kwargs,match", [
    ({"in_channels": 0}, "in_channels must be ≥ 1, got 0"),
    ({"num_classes": 0}, "num_classes must be ≥ 1, got 0"),
    ({"image_size": (32, 32, 3)}, r"image_size is an int or \(height, width\)"),
    ({"image_size": 0}, "image_size must be ≥ 1, got 0"),
])
def test_build_arguments_are_validated(kwargs, match):
    args = {"in_channels": 1, "num_classes": 10, "image_size": 32, **kwargs}
    with pytest.raises(ValueError, match=match):
        models.build("lenet", **args)


def test_num_outputs_needs_a_linear_layer():
    assert models.num_outputs(build("lenet", (1, 32, 32), 7)) == 7
    with pytest.raises(ValueError, match="no Linear layer"):
        models.num_outputs(nn.Sequential(nn.Conv2d(1, 1, 3)))


def test_a_kernel_larger_than_its_map_is_said_in_the_students_terms():
    # Issue 19.10: the custom template with 11×11 kernels on 32×32 digits pasted PyTorch's "Calculated padded input
    # size per channel" and quoted a recipe the student never chose.
    with pytest.raises(models.ShapeMismatchError) as caught:
        models.build("custom", in_channels=1, num_classes=10, image_size=24, blocks=3, convs_per_block=1,
                     kernel_size=11, padding=0)
    message = str(caught.value)
    assert "window of 11×11 pixels, larger than the 7×7 map it gets" in message
    assert "Calculated padded input size" not in message and "recipe" not in message
    assert "strict_input" not in message


def test_no_resize_beyond_what_a_classroom_allows_is_suggested():
    with pytest.raises(models.ShapeMismatchError) as caught:
        models.build("custom", in_channels=1, num_classes=10, image_size=16, blocks=6, convs_per_block=3,
                     kernel_size=11, padding=0)
    message = str(caught.value)
    assert f"No image size up to {models.LARGEST_INPUT}×{models.LARGEST_INPUT} fits these layers" in message
    assert "resize the images" not in message
