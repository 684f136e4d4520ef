"""Skeletons and their registry."""
from motornet_fn.core.skeletons.base import SkeletonModel, clip_joint
from motornet_fn.core.skeletons.chain import PlanarChain
from motornet_fn.core.skeletons.point_mass import PointMass
from motornet_fn.core.skeletons.two_link import ARM26_SKELETON, TWO_DOF_ARM_BOUNDS_DEG, TWO_DOF_ARM_DEFAULTS, TwoDofArm

SKELETONS: dict[str, type[SkeletonModel]] = {cls.name: cls for cls in (PointMass, TwoDofArm, PlanarChain)}


def get_skeleton(name: str, **structure) -> SkeletonModel:
    """Instantiate a registered skeleton by MotorNet class name (``space_dim`` for PointMass)."""
    if name not in SKELETONS:
        raise ValueError(f"unknown skeleton {name!r}; valid names: {sorted(SKELETONS)}")
    if name == "PointMass":
        return PointMass(structure.get("space_dim", 2))
    if name == "PlanarChain":
        return PlanarChain(structure.get("n_links", 3))
    return SKELETONS[name]()


__all__ = ["SKELETONS", "get_skeleton", "SkeletonModel", "PointMass", "TwoDofArm", "PlanarChain", "clip_joint",
           "ARM26_SKELETON", "TWO_DOF_ARM_DEFAULTS",
           "TWO_DOF_ARM_BOUNDS_DEG"]
