"""Analyses of trained networks and behaviour, on plain tensors: per-trial reach metrics
(:mod:`.behaviour`), population analyses — PCA, fixed points, jPCA (:mod:`.population`), tidy result
tables (:mod:`.table`), report figures (:mod:`.figures`) and perturbation experiments run through the
episode engine (:mod:`.perturbations`); :func:`analyze_run` runs them all on a trained run (``motornet-fn
analyze``)."""
from motornet_fn.analysis.behaviour import (
    DEFAULT_FRACTION, DEFAULT_MIN_SPEED, SUMMARY_FIELDS, MovementTiming, ReachMetrics, angular_error_at_peak_velocity,
    endpoint_error, lateral_deviation, max_lateral_deviation, metrics_from_trace, metrics_table, movement_time,
    movement_timing, path_length, peak_speed, peak_velocity_index, reach_metrics, reaction_time, speed, summarise,
    velocity,
)
from motornet_fn.analysis.figures import (
    plot_eigenvalues, plot_hand_paths, plot_muscle_activations, plot_pca_trajectories, plot_perturbed_paths,
    plot_speed_profiles,
)
from motornet_fn.analysis.population import (
    FixedPoints, JPCAResult, PCAResult, StepFn, condition_average, fit_skew, fixed_points, jpca, pca, policy_step_fn,
    project, skew_basis,
)
from motornet_fn.analysis import perturbations
from motornet_fn.analysis.analyze import analyze_run
from motornet_fn.analysis.table import Table

__all__ = [
    "DEFAULT_FRACTION", "DEFAULT_MIN_SPEED", "SUMMARY_FIELDS", "MovementTiming", "ReachMetrics",
    "angular_error_at_peak_velocity", "endpoint_error", "lateral_deviation", "max_lateral_deviation",
    "metrics_from_trace", "metrics_table", "movement_time", "movement_timing", "path_length", "peak_speed",
    "peak_velocity_index", "reach_metrics", "reaction_time", "speed", "summarise", "velocity",
    "FixedPoints", "JPCAResult", "PCAResult", "StepFn", "condition_average", "fit_skew", "fixed_points", "jpca", "pca",
    "policy_step_fn", "project", "skew_basis", "Table", "plot_eigenvalues", "plot_hand_paths",
    "plot_muscle_activations", "plot_pca_trajectories", "plot_perturbed_paths", "plot_speed_profiles",
    "perturbations", "analyze_run",
]
