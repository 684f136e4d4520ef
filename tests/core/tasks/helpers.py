"""Build an environment of a task and reset it with draws from a seeded torch generator."""
import torch

from motornet_fn.core import build
from motornet_fn.core import env as E
from motornet_fn.core.tasks import get_task


def reset(task_name, batch_size=8, seed=0, effector="rigid_tendon_arm26", n_steps=50, options=None, **task_options):
    spec_e, params_e = getattr(build, effector)()
    spec = E.EnvSpec(spec_e, get_task(task_name, **task_options), n_steps)
    params = E.make_params(spec, params_e)
    options = {"batch_size": batch_size, **(options or {})}
    draws = E.sample_draws(E.reset_draws(spec, batch_size, options, noise=()), torch.Generator().manual_seed(seed))
    state, obs = E.reset(spec, params, draws, options)
    return spec, params, state, obs
