import importlib
import pkgutil

from policies.policy import Policy

# Every Policy subclass in this folder, by class name (the 2024 template's registry).
policy_classes = {}
for _module in pkgutil.iter_modules(__path__):
    _loaded = importlib.import_module(f"{__name__}.{_module.name}")
    for _name, _value in vars(_loaded).items():
        if isinstance(_value, type) and issubclass(_value, Policy) and _value is not Policy:
            policy_classes[_name] = _value
