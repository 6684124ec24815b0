"""``minidl.optim``: optimisers with torch's update rules and state layout, and learning-rate schedulers."""
from minidl.optim.optimizer import Optimizer  # noqa: F401
from minidl.optim.sgd import SGD  # noqa: F401
from minidl.optim.adam import Adam, AdamW  # noqa: F401
from minidl.optim.rmsprop import RMSprop  # noqa: F401
from minidl.optim.adagrad import Adagrad  # noqa: F401
from minidl.optim.nadam import NAdam  # noqa: F401
from minidl.optim import lr_scheduler  # noqa: F401,E402
