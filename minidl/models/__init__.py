"""The course's networks, written once for either backend (pass ``nn`` = ``minidl.nn`` or ``torch.nn``).

- ``course``: LeNet and the CIFAR-10 net of homework 2, and the layer table the course asks for.
"""
from minidl.models.course import cifar_net, format_table, layer_table, lenet  # noqa: F401
