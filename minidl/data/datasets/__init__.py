"""Readers of the official on-disk formats: MNIST-family IDX, CIFAR-10 (binary / md5-checked python),
image folders (CIFAR-10 PNGs, 15-Scene), and scikit-learn's bundled digits."""
from minidl.data.datasets.cifar import (CIFAR10, read_cifar_binary, read_cifar_python,  # noqa: F401
                                        restricted_load)
from minidl.data.datasets.digits import load_digits  # noqa: F401
from minidl.data.datasets.folder import IMG_EXTENSIONS, ImageFolder, read_image  # noqa: F401
from minidl.data.datasets.mnistm import (MNISTM, load_backgrounds, read_mnistm_labels,  # noqa: F401
                                         synthesize_mnistm, synthesize_mnistm_cached, texture_backgrounds)
from minidl.data.datasets.mnist import (IMAGES_MAGIC, KMNIST, LABELS_MAGIC, MNIST, FashionMNIST,  # noqa: F401
                                        read_idx)
