"""torch's ``torch.nn.modules.module`` path: ``Module``, ``Parameter``, ``RemovableHandle`` and the global
(every-module) hooks, re-exported from ``minidl.nn.module`` and ``minidl.nn.hooks``."""
from minidl.nn.hooks import (RemovableHandle, register_module_forward_hook,  # noqa: F401
                             register_module_forward_pre_hook, register_module_full_backward_hook,
                             register_module_full_backward_pre_hook)
from minidl.nn.module import Module, Parameter  # noqa: F401
