"""``minidl.optim``: optimisers with torch's update rules and state layout."""
from minidl.optim.optimizer import Optimizer  # noqa: F401
from minidl.optim.sgd import SGD  # noqa: F401
