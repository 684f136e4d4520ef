r"""First-order activation dynamics shared by every muscle model.

Thelen (2003), eqs. 1-2, the activation dynamics of MuJoCo's muscle actuator too: with the excitation
:math:`u` and the activation :math:`a` both clipped to :math:`[a_\min, 1]` first,

.. math::

    \dot a = \frac{u - a}{\tau(u, a)}, \qquad
    \tau(u, a) = \begin{cases}
        \tau_\mathrm{act} \, (0.5 + 1.5 a) & u > a, \\
        \tau_\mathrm{deact} / (0.5 + 1.5 a) & \text{otherwise,}
    \end{cases}

with :math:`a_\min` = ``min_activation``, :math:`\tau_\mathrm{act}` = ``tau_activation`` and
:math:`\tau_\mathrm{deact}` = ``tau_deactivation`` (s).

References:
    Thelen DG (2003). Adjustment of muscle mechanics model parameters to simulate dynamic contractions
    in older adults. J Biomech Eng 125(1):70-77. doi:10.1115/1.1531112

    MuJoCo documentation, "Muscle actuators" (https://mujoco.readthedocs.io/en/stable/modeling.html).
"""
from __future__ import annotations

import torch


def clip_activation(x: torch.Tensor, min_activation: torch.Tensor) -> torch.Tensor:
    """Clip to [min_activation, 1]. x: (..., n_muscles), min_activation: (n_muscles,)."""
    return torch.maximum(x, min_activation).clamp(max=1.0)


def activation_derivative(
    action: torch.Tensor,
    activation: torch.Tensor,
    min_activation: torch.Tensor,
    tau_activation: torch.Tensor,
    tau_deactivation: torch.Tensor,
) -> torch.Tensor:
    r""":math:`\dot a` (1/s) of the module's equation.

    Args:
        action: (..., n_muscles) excitation :math:`u`.
        activation: (..., n_muscles) activation :math:`a`.
        min_activation: (n_muscles,) :math:`a_\min`.
        tau_activation, tau_deactivation: (n_muscles,) time constants (s).
    """
    u = clip_activation(action, min_activation)
    a = clip_activation(activation, min_activation)
    scale = 0.5 + 1.5 * a
    tau = torch.where(u > a, tau_activation * scale, tau_deactivation / scale)
    return (u - a) / tau
