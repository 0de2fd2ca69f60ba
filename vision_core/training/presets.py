"""The image recipes of the tutorials (../shared/SEEDS.md) as one-click run configs."""

from __future__ import annotations

from dataclasses import dataclass

from vision_core.config import RunConfig


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    source: str  # which tutorial it reproduces
    reported: str  # the result the tutorial reports, to compare with
    config: RunConfig
    fallback_dataset: str = "digits"  # the closest embedded dataset when the real one is not on disk
    fallback_options: tuple = ()  # dataset_options for the fallback, as (key, value) pairs


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in [
        Preset(
            "lenet_mnist", "LeNet on MNIST (32×32)", "LeNet with PyTorch Lightning",
            "nearly 99% test accuracy in 10 epochs",
            RunConfig(dataset="mnist", dataset_options={"image_size": 32, "val_size": 5000}, model="lenet",
                      optimizer="adam", lr=2e-4, batch_size=64, epochs=10, early_stopping_patience=4),
            fallback_options=(("image_size", 32),),
        ),
        Preset(
            "tinyvgg_fashion", "TinyVGG on FashionMNIST", "Computer vision with CNNs (model_2)",
            "test loss 0.3286, accuracy 88.38% after 3 epochs (44.3 s on a GPU)",
            RunConfig(dataset="fashion_mnist", dataset_options={"val_size": 0}, model="tinyvgg",
                      model_options={"hidden_units": 10}, optimizer="sgd", lr=0.1, batch_size=32, epochs=3),
            fallback_options=(("image_size", 28),),
        ),
        Preset(
            "v0_fashion", "V0 linear baseline on FashionMNIST", "Computer vision with CNNs (model_0)",
            "test loss 0.4766, accuracy 83.43% after 3 epochs",
            RunConfig(dataset="fashion_mnist", dataset_options={"val_size": 0}, model="linear",
                      optimizer="sgd", lr=0.1, batch_size=32, epochs=3),
            fallback_options=(("image_size", 28),),
        ),
        Preset(
            "v1_fashion", "V1 MLP (ReLU on the logits) on FashionMNIST", "Computer vision with CNNs (model_1)",
            "test loss 0.6850, accuracy 75.02% after 3 epochs: worse than V0 because of the ReLU on the logits",
            RunConfig(dataset="fashion_mnist", dataset_options={"val_size": 0}, model="mlp",
                      optimizer="sgd", lr=0.1, batch_size=32, epochs=3),
            fallback_options=(("image_size", 28),),
        ),
        Preset(
            "mnist_cnn", "Textbook MNIST CNN", "Classifying images with deep CNNs",
            "test accuracy 0.9914 after 20 epochs (val 0.9802 after epoch 1)",
            RunConfig(dataset="mnist", dataset_options={"val_size": 10000}, model="mnist_cnn",
                      optimizer="adam", lr=1e-3, batch_size=64, epochs=20, seed=1),
            fallback_options=(("image_size", 28),),
        ),
        Preset(
            "cifar_net", "CIFAR-10 Net", "Training a classifier (CIFAR-10)",
            "running loss 2.105 → 1.267 over 2 epochs",
            RunConfig(dataset="cifar10", model="cifar_net", optimizer="sgd", lr=1e-3, momentum=0.9,
                      batch_size=4, epochs=2),
            fallback_dataset="shapes",
        ),
        Preset(
            "cats_dogs", "Cats vs dogs ImageClassifier", "First deep learning model (Lightning)",
            "~95% train vs ~60% test accuracy after 100 epochs: overfitting",
            RunConfig(dataset="imagefolder", dataset_options={"image_size": 64}, model="cats_dogs_cnn",
                      optimizer="adam", lr=1e-3, batch_size=256, epochs=100),
            fallback_dataset="shapes", fallback_options=(("image_size", 64),),
        ),
        Preset(
            "smile", "Smile classifier (CelebA-style image folder)", "Classifying images with deep CNNs",
            "test accuracy 0.8446 after 30 epochs",
            RunConfig(dataset="imagefolder", dataset_options={"image_size": 64}, model="smile_cnn",
                      optimizer="adam", lr=1e-3, batch_size=32, epochs=30,
                      augment={"hflip": True, "crop": True}),
            fallback_dataset="shapes", fallback_options=(("image_size", 64),),
        ),
        Preset(
            "airbench_cifar10", "CIFAR-10 speed run (airbench94-style)",
            "airbench94 (Jordan, 2024), written from its published description",
            "94% test accuracy in 3.29 s on one A100 (its flip test-time augmentation included)",
            RunConfig(dataset="cifar10", dataset_options={"val_size": 0}, model="airbench", optimizer="sgd",
                      # airbench sums the loss over the batch, lr 11.5 / s with s = 1024·(1 + 1/(1 − 0.85)): on the
                      # mean loss that is lr 1.5. Its decay takes 0.0153·1024 / s = 0.2 % of each weight per step:
                      # PyTorch's weight_decay 0.002 / 1.5 = 0.00133 at lr 1.5.
                      lr=1.5, momentum=0.85, nesterov=True, weight_decay=0.00133, scheduler="warmup_linear",
                      label_smoothing=0.2, batch_size=1024, epochs=10, augment={"hflip": True, "crop": 2},
                      fast=True),
            fallback_dataset="shapes",
        ),
    ]
}


def get_preset(key: str) -> Preset:
    if key not in PRESETS:
        raise ValueError(f"Unknown preset {key!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[key]


def with_fallback(preset: Preset) -> RunConfig:
    """The preset's config on its closest embedded dataset (same model and training recipe)."""
    return preset.config.replace(dataset=preset.fallback_dataset, dataset_options=dict(preset.fallback_options))
