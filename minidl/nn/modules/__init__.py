"""``minidl.nn.modules``: torch's module path, for code that reaches the global hooks as torch spells them
(``torch.nn.modules.module.register_module_forward_hook``). The modules themselves are in ``minidl.nn``."""
