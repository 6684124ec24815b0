"""Data pipeline: datasets, the DataLoader, transforms, dataset readers and the toy generators.

    from minidl.data import DataLoader, TensorDataset, MNIST, transforms as T
    train, test = MNIST.split_test_set(data_dir / "mnist", transform=T.ToTensor())
    loader = DataLoader(train, batch_size=64, shuffle=True, generator=minidl.Generator(0))

Read next: ``dataset.py`` (Dataset, Subset, splits), ``dataloader.py`` (batching, collate,
workers), ``transforms/`` (torchvision-style transforms on ndarrays, ZCA), ``datasets/`` (file
formats), ``download.py`` (data directory, checksummed downloads). NumPy only: no torch here.
"""
from minidl.data._files import CorruptFileError, check_integrity, file_hash  # noqa: F401
from minidl.data.dataset import (ArrayDataset, ConcatDataset, Dataset, Subset, TensorDataset,  # noqa: F401
                                 random_split, split_dataset, stratified_split, to_arrays)
from minidl.data.dataloader import DataLoader, default_collate, numpy_collate  # noqa: F401
from minidl.data import transforms  # noqa: F401
from minidl.data.zca import ZCA  # noqa: F401
from minidl.data.download import (ChecksumError, DownloadError, default_cache_dir, default_data_dir,  # noqa: F401
                                  download_url, extract_archive)
from minidl.data.datasets import (CIFAR10, IMAGES_MAGIC, KMNIST, LABELS_MAGIC, MNIST, FashionMNIST,  # noqa: F401
                                  ImageFolder, load_digits, read_cifar_binary, read_cifar_python, read_idx,
                                  read_image, restricted_load)
from minidl.data.toy import (load_circles_mat, make_blobs, make_circles, make_moons,  # noqa: F401
                             make_sinusoid, one_hot)
