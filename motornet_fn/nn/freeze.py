"""Freezing parts of a network: which parameters to optimise.

Every policy declares its parameters by role through ``parameter_groups()``:

* ``"input"``: weights from the observation;
* ``"recurrent"``: hidden-to-hidden weights, the hidden units' biases and any learnable initial state;
* ``"readout"``: the weights and bias of the muscle readout.

:func:`trainable_names` turns a ``train_only`` choice into parameter names::

    names = trainable_names(policy, "readout")
    optimizer = torch.optim.Adam([p for n, p in policy.named_parameters() if n in names])
"""
from __future__ import annotations

import torch

#: train_only -> (groups trained). None means "all".
TRAIN_ONLY = {
    "all": ("input", "recurrent", "readout"),
    "readout": ("readout",),
    "recurrent": ("recurrent",),
    "input": ("input",),
    "no_input": ("recurrent", "readout"),
    "no_readout": ("input", "recurrent"),
}


def parameter_groups(model: torch.nn.Module) -> dict[str, tuple[str, ...]]:
    """The model's ``parameter_groups()``, checked to name every parameter exactly once."""
    if not hasattr(model, "parameter_groups"):
        raise TypeError(f"{type(model).__name__} does not declare parameter_groups(); "
                        f"define it to map 'input' / 'recurrent' / 'readout' to parameter names")
    groups = model.parameter_groups()
    names = [n for n, _ in model.named_parameters()]
    listed = [n for group in groups.values() for n in group]
    if sorted(listed) != sorted(names):
        raise ValueError(f"{type(model).__name__}.parameter_groups() must list each parameter once: "
                         f"parameters {sorted(names)}, listed {sorted(listed)}")
    return groups


def trainable_names(model: torch.nn.Module, train_only: str | None = None) -> list[str]:
    """Names of the parameters to optimise, in ``named_parameters()`` order.

    Args:
        model: a policy with ``parameter_groups()``.
        train_only: None or "all" (everything), "readout", "recurrent", "input", "no_input" (all but the
            input weights) or "no_readout" (all but the readout).

    Raises:
        ValueError: an unknown ``train_only`` (the message lists the valid ones).
    """
    key = "all" if train_only is None else train_only
    if key not in TRAIN_ONLY:
        raise ValueError(f"train_only must be None or one of {list(TRAIN_ONLY)}, got {train_only!r}")
    groups = parameter_groups(model)
    chosen = {n for g in TRAIN_ONLY[key] for n in groups.get(g, ())}
    return [n for n, _ in model.named_parameters() if n in chosen]


__all__ = ["TRAIN_ONLY", "trainable_names", "parameter_groups"]
