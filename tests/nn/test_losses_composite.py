"""Composable losses: every registry term equals a numpy hand computation on a small trajectory; spec
parsing, presets, required fields and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from motornet_fn.nn import losses as L

DT = 0.01


@pytest.fixture
def record():
    """Batch 2, T = 4 steps: (2, 5, .) positions / velocities / muscles, (2, 4, 3) hidden activity."""
    rng = np.random.default_rng(0)
    arrays = {
        "fingertip": rng.normal(size=(2, 5, 2)) * 0.1,
        "fingertip_vel": rng.normal(size=(2, 5, 2)),
        "goal": rng.normal(size=(2, 5, 2)) * 0.1,
        "activation": rng.uniform(size=(2, 5, 6)),
        "force": rng.uniform(size=(2, 5, 6)) * 100,
        "hidden": rng.normal(size=(2, 4, 3)),
    }
    return arrays


def expected(name: str, r: dict, radius: float = 0.01) -> float:
    """Each term by hand: loops over batch and time, no shared code with the library."""
    def mean_over(seq, per_step):
        B, T = seq.shape[:2]
        return sum(per_step(seq[b, t]) for b in range(B) for t in range(T)) / (B * T)

    tip, goal, vel = r["fingertip"], r["goal"], r["fingertip_vel"]
    d_act = (r["activation"][:, 1:] - r["activation"][:, :-1]) / DT
    d_force = (r["force"][:, 1:] - r["force"][:, :-1]) / DT
    d_hidden = (r["hidden"][:, 1:] - r["hidden"][:, :-1]) / DT
    jerk = (vel[:, 2:] - 2 * vel[:, 1:-1] + vel[:, :-2]) / DT**2
    l1 = np.abs(tip - goal).sum(-1)
    return {
        "position": l1.mean(),
        "position_l2": mean_over(tip - goal, lambda e: e[0] ** 2 + e[1] ** 2),
        "position_clipped": np.maximum(l1 - radius, 0).mean(),
        "final_velocity": np.mean([vel[b, -1, 0] ** 2 + vel[b, -1, 1] ** 2 for b in range(2)]),
        "speed": mean_over(vel, lambda v: v @ v),
        "jerk": mean_over(jerk, lambda j: j @ j),
        "effort": mean_over(r["activation"], lambda a: a @ a),
        "effort_derivative": mean_over(d_act, lambda a: a @ a),
        "force": mean_over(r["force"], lambda f: f.sum()),
        "force_derivative": mean_over(d_force, lambda f: f @ f),
        "hidden": mean_over(r["hidden"], lambda h: h @ h),
        "hidden_derivative": mean_over(d_hidden, lambda h: h @ h),
    }[name]


@pytest.mark.parametrize("name", sorted(L.LOSS_TERMS))
def test_each_term_equals_a_hand_computation(record, name):
    tensors = {k: torch.tensor(v) for k, v in record.items()}
    radius = 0.05
    _, terms = L.CompositeLoss({name: 1.0}, dt=DT, radius=radius)(tensors)
    np.testing.assert_allclose(terms[name].item(), expected(name, record, radius), rtol=1e-10)
    term = L.LOSS_TERMS[name]
    assert term.unit and term.doc and set(term.fields) <= set(record)


def test_velocity_terms_fall_back_to_finite_differences(record):
    tensors = {k: torch.tensor(v) for k, v in record.items() if k != "fingertip_vel"}
    derived = dict(record, fingertip_vel=np.diff(record["fingertip"], axis=1) / DT)
    loss = L.CompositeLoss({"speed": 1.0, "jerk": 1.0, "final_velocity": 1.0}, dt=DT)
    _, terms = loss(tensors)
    for name in ("speed", "jerk", "final_velocity"):
        np.testing.assert_allclose(terms[name].item(), expected(name, derived), rtol=1e-10)


def test_total_is_the_weighted_sum_and_records_may_be_objects(record):
    from collections import namedtuple

    Record = namedtuple("Record", list(record))
    weights = {"position": 1.0, "effort": 1e-2, "hidden": 0.0, "force_derivative": 1e-8}
    total, terms = L.CompositeLoss(weights, dt=DT)(Record(**{k: torch.tensor(v) for k, v in record.items()}))
    assert set(terms) == {"position", "effort", "force_derivative"}  # zero weights are not computed
    want = sum(w * expected(n, record) for n, w in weights.items() if w)
    np.testing.assert_allclose(total.item(), want, rtol=1e-10)


def test_required_fields_name_only_what_active_terms_read():
    assert L.CompositeLoss({"position": 1}, dt=DT).required_fields() == ("fingertip", "goal")
    loss = L.CompositeLoss("five_term", dt=DT)
    assert loss.required_fields() == ("fingertip", "goal", "force", "hidden")
    assert L.CompositeLoss("speed=1,effort=0", dt=DT).required_fields() == ("fingertip_vel",)


def test_parse_loss_spec():
    assert L.parse_loss_spec("position=1,effort=1e-4,hidden=1e-5") == {"position": 1.0, "effort": 1e-4, "hidden": 1e-5}
    assert L.parse_loss_spec(" tutorial ") == {"position": 1.0}
    spec = L.parse_loss_spec("seven_term,hidden=0,")
    assert spec["hidden"] == 0.0 and spec["jerk"] == L.PRESETS["seven_term"]["jerk"] and len(spec) == 7
    assert set(L.PRESETS["seven_term"]) == {"position", "speed", "jerk", "force", "force_derivative", "hidden",
                                            "hidden_derivative"}


@pytest.mark.parametrize("spec,match", [
    ("position=1,velocity=2", "unknown loss term 'velocity'; valid terms: position, position_l2"),
    ("position=abc", "weight of loss term 'position' must be a number, got 'abc'"),
    ("effort=-1", "weight of loss term 'effort' must be a finite number >= 0, got -1.0"),
    ("hidden=inf", "weight of loss term 'hidden' must be a finite number >= 0"),
    ("michael", "unknown loss preset 'michael'.*presets: tutorial, five_term, seven_term"),
    ("", "names no term"),
])
def test_bad_specs_are_named(spec, match):
    with pytest.raises(ValueError, match=match):
        L.parse_loss_spec(spec)


def test_composite_loss_rejects_bad_arguments(record):
    with pytest.raises(ValueError, match="dt must be a time step > 0 s"):
        L.CompositeLoss({"position": 1}, dt=0)
    with pytest.raises(ValueError, match="unknown loss term 'pos'"):
        L.CompositeLoss({"pos": 1}, dt=DT)
    with pytest.raises(ValueError, match="at least one loss term a weight > 0"):
        L.CompositeLoss({"position": 0}, dt=DT)
    with pytest.raises(KeyError, match="no 'force' field"):
        L.CompositeLoss({"force": 1}, dt=DT)({"fingertip": torch.zeros(1, 2, 2)})


def test_terms_have_finite_gradients_at_rest(float64):
    """Zero error, velocity and activity (a resting arm on its target) gives finite gradients."""
    zeros = {k: torch.zeros(1, 5, 2, requires_grad=True) for k in ("fingertip", "goal")}
    zeros.update(activation=torch.zeros(1, 5, 3, requires_grad=True), force=torch.zeros(1, 5, 3, requires_grad=True),
                 hidden=torch.zeros(1, 4, 3, requires_grad=True))
    total, _ = L.CompositeLoss({n: 1.0 for n in L.LOSS_TERMS}, dt=DT)(zeros)
    total.backward()
    assert all(torch.isfinite(t.grad).all() for t in zeros.values())
