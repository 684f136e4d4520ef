"""Population analyses of network activity: PCA, fixed and slow points, jPCA."""
from motornet_fn.analysis.population.fixed_points import FixedPoints, StepFn, fixed_points, policy_step_fn
from motornet_fn.analysis.population.jpca import JPCAResult, fit_skew, jpca, skew_basis
from motornet_fn.analysis.population.pca import PCAResult, condition_average, pca, project

__all__ = ["PCAResult", "condition_average", "pca", "project", "FixedPoints", "StepFn", "fixed_points",
           "policy_step_fn", "JPCAResult", "fit_skew", "jpca", "skew_basis"]
