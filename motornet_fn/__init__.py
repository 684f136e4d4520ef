"""motornet_fn: differentiable biomechanical effectors for training neural-network controllers.

A functional re-build of MotorNet (Codol et al., eLife 2023). See ``motornet_fn.core`` for the pure
functions; the modules ``muscle``, ``skeleton``, ``effector``, ``environment``, ``policy`` and
``plotor`` mirror MotorNet's class API (``import motornet_fn as mn``).
"""
__version__ = "0.1.0"

from . import threads  # noqa: E402,F401  (torch on 1 CPU thread unless MOTORNET_FN_THREADS says otherwise)

from . import muscle, skeleton, effector, environment, policy, plotor  # noqa: E402,F401
