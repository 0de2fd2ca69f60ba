"""Model zoo: exact tutorial layers and parameter counts, every model on every embedded-like input, clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vision_core import models

# Hand-computed parameter counts with each recipe's own input (weights + biases).
RECIPE_PARAMS = {
    # V0: 784·10+10 + 10·10+10
    "linear": ((1, 28, 28), 10, 7_960),
    # V1: same Linear layers, ReLUs have none
    "mlp": ((1, 28, 28), 10, 7_960),
    # TinyVGG(10): 1·10·9+10 + 3·(10·10·9+10) + 490·10+10
    "tinyvgg": ((1, 28, 28), 10, 7_740),
    # LeNet: 156 + 2,416 + 48,120 + 10,164 + 850
    "lenet": ((1, 32, 32), 10, 61_706),
    # CIFAR Net: 456 + 2,416 + 48,120 + 10,164 + 850
    "cifar_net": ((3, 32, 32), 10, 62_006),
    # Textbook MNIST CNN: 832 + 51,264 + 3,212,288 + 10,250
    "mnist_cnn": ((1, 28, 28), 10, 3_274_634),
    # Smile CNN: 896 + 18,496 + 73,856 + 295,168 + 257
    "smile_cnn": ((3, 64, 64), 2, 388_673),
    # Cats vs dogs: 84 + 168 + 6,145,000 + 250,250 + 15,060 + 122
    "cats_dogs_cnn": ((3, 64, 64), 2, 6_410_684),
}

EMBEDDED_INPUTS = [((1, 32, 32), 10), ((3, 32, 32), 6), ((1, 28, 28), 10)]


def build(name, shape, classes, **options):
    return models.build(name, in_channels=shape[0], num_classes=classes, image_size=shape[1:], **options)


@pytest.mark.parametrize("name", list(RECIPE_PARAMS))
def test_recipe_input_gives_the_tutorials_parameter_count(name):
    shape, classes, params = RECIPE_PARAMS[name]
    assert models.total_params(build(name, shape, classes)) == params


def test_lenet_has_the_seeds_layers_in_order():
    model = build("lenet", (1, 32, 32), 10)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "MaxPool2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU", "Flatten",
                     "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert model.fc1.in_features == 400


def test_cats_dogs_keeps_almost_all_parameters_in_its_first_linear():
    model = build("cats_dogs_cnn", (3, 64, 64), 2)
    share = model.fc1.weight.numel() / models.total_params(model)
    assert 0.95 < share < 0.97
    assert not any(isinstance(m, nn.ReLU) for m in list(model)[-4:])  # no activation between the Linears


def test_smile_cnn_is_one_logit_with_global_average_pooling():
    model = build("smile_cnn", (3, 64, 64), 2)
    assert models.num_outputs(model) == 1
    assert model.avgpool.kernel_size == (8, 8)
    assert build("smile_cnn", (3, 32, 32), 10)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_mlp_can_drop_the_relu_on_the_logits():
    with_relu = build("mlp", (1, 28, 28), 10)
    assert isinstance(list(with_relu)[-1], nn.ReLU)
    assert isinstance(list(build("mlp", (1, 28, 28), 10, relu_on_logits=False))[-1], nn.Linear)


@pytest.mark.parametrize("name", models.list_models())
@pytest.mark.parametrize("shape,classes", EMBEDDED_INPUTS)
def test_every_model_takes_every_embedded_input(name, shape, classes):
    model = build(name, shape, classes).eval()
    out = model(torch.rand(2, *shape))
    assert out.shape == (2, classes)
    assert [r.output_shape for r in models.summary(model, shape)][-1] == (classes,)


def test_lenet_on_28_by_28_with_the_recipes_flatten_is_explained():
    model = build("lenet", (1, 28, 28), 10, strict_input=True)
    with pytest.raises(models.ShapeMismatchError, match=r"fc1: Linear\(400 → 120\).*got 256") as err:
        models.check_input(model, (1, 28, 28))
    assert "32×32" in str(err.value) and "padding 2" in str(err.value)
    # Without strict_input LeNet adapts: Linear(256, 120).
    assert build("lenet", (1, 28, 28), 10).fc1.in_features == 256


def test_too_small_inputs_name_the_layer():
    with pytest.raises(models.ShapeMismatchError, match="conv2"):
        build("lenet", (1, 8, 8), 10)
    with pytest.raises(models.ShapeMismatchError, match="pool"):
        build("custom", (1, 28, 28), 10, blocks=6)


def test_custom_template_options():
    model = build("custom", (3, 32, 32), 6, blocks=2, convs_per_block=2, channels=[8, 16], batchnorm=True,
                  dropout=0.25, linear_layers=2, hidden_units=32)
    kinds = [type(m).__name__ for m in model]
    assert kinds.count("Conv2d") == 4 and kinds.count("BatchNorm2d") == 4 and kinds.count("MaxPool2d") == 2
    assert kinds.count("Linear") == 3 and kinds.count("Dropout") == 2
    assert model.fc1.in_features == 16 * 8 * 8
    with pytest.raises(ValueError, match="convs_per_block"):
        build("custom", (1, 28, 28), 10, convs_per_block=4)


def test_unknown_names_and_options_list_the_known_ones():
    with pytest.raises(ValueError, match="known models: linear, mlp"):
        models.model_info("vgg16")
    with pytest.raises(TypeError, match="allowed"):
        build("lenet", (1, 32, 32), 10, hidden_units=3)


def test_receptive_fields_of_lenet_by_hand():
    rows = {r.name: r for r in models.summary(build("lenet", (1, 32, 32), 10), (1, 32, 32))}
    # conv1: 1 + 4·1 = 5; pool1: 5 + 1·1 = 6, jump 2; conv2: 6 + 4·2 = 14; pool2: 14 + 1·2 = 16, jump 4
    assert [(rows[n].receptive_field, rows[n].jump) for n in ("conv1", "pool1", "relu1", "conv2", "pool2")] == [
        (5, 1), (6, 2), (6, 2), (14, 2), (16, 4)]
    assert rows["fc1"].receptive_field is None  # a Linear layer sees the whole input
