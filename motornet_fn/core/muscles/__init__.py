"""Muscle models (one per file) and their registry."""
from motornet_fn.core.muscles.base import MuscleModel
from motornet_fn.core.muscles.compliant_tendon import CompliantTendonHillMuscle
from motornet_fn.core.muscles.mujoco_hill import MujocoHillMuscle
from motornet_fn.core.muscles.relu import ReluMuscle
from motornet_fn.core.muscles.rigid_tendon import RigidTendonHillMuscle
from motornet_fn.core.muscles.thelen import RigidTendonHillMuscleThelen

MUSCLES: dict[str, type[MuscleModel]] = {
    cls.name: cls
    for cls in (ReluMuscle, MujocoHillMuscle, RigidTendonHillMuscle, RigidTendonHillMuscleThelen,
                CompliantTendonHillMuscle)
}


def get_muscle(name: str) -> MuscleModel:
    """Instantiate a registered muscle model by MotorNet class name."""
    if name not in MUSCLES:
        raise ValueError(f"unknown muscle {name!r}; valid names: {sorted(MUSCLES)}")
    return MUSCLES[name]()


__all__ = [
    "MUSCLES", "get_muscle", "MuscleModel", "ReluMuscle", "MujocoHillMuscle", "RigidTendonHillMuscle",
    "RigidTendonHillMuscleThelen", "CompliantTendonHillMuscle",
]
