"""Policies, losses, training loops and checkpoints (episodes run on :mod:`motornet_fn.core.engine`)."""
from motornet_fn.core.engine import Trace, run_episode
from motornet_fn.nn.losses import (
    LOSSES, activation_derivative_l2, activation_l2, clipped_position, hidden_activity_l2, hidden_derivative_l2,
    l1_position, l2_position,
)
from motornet_fn.nn.objective import Batch, member_losses, policy_functions
from motornet_fn.nn.policies import POLICIES, GRUPolicy, MLPPolicy, gru_cell
from motornet_fn.nn.train import TrainConfig, Trainer, TrainLog

__all__ = [name for name in dir() if not name.startswith("_")]
