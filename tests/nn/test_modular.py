"""ModularGRUPolicy (functional form): masks and Dale's signs through training, delays, delayed output,
lesion windows, ensembles, gradients, and the stateful MotorNet class built on it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

import motornet_fn as mn
from motornet_fn.nn.modular import ModularGRUPolicy
from motornet_fn.nn.policies import functional_method
from tests.nn.modular_helpers import chain, impulse, rollout, three_modules


def first_response(states: torch.Tensor, units: slice) -> int:
    """First step whose new state is nonzero on ``units`` (states (T, B, state_dim))."""
    active = (states[..., units] != 0).flatten(1).any(dim=1)
    return int(torch.nonzero(active)[0, 0])


# ------------------------------------------------------------------------------------ contract
def test_state_layout_and_initial_hidden():
    policy = ModularGRUPolicy(**three_modules())
    H, P = 12, 3  # max connectivity delay 3, output delay 2 -> 3 past states
    assert policy.layout.n_past == P and policy.state_dim == (P + 1) * H + 1 and policy.noise_dim == H
    with torch.no_grad():
        policy.h0.copy_(torch.linspace(-1, 1, H)[None])
    h = policy.initial_hidden((2, 5))
    assert h.shape == (2, 5, policy.state_dim)
    torch.testing.assert_close(h[..., :-1], torch.tanh(policy.h0[0]).repeat(P + 1).expand(2, 5, -1))
    assert torch.all(h[..., -1] == 0)
    torch.testing.assert_close(policy.activity(h), torch.tanh(policy.h0[0]).expand(2, 5, H))
    _, h1 = policy(torch.randn(2, 5, 6), h)
    assert torch.all(h1[..., -1] == 1)
    torch.testing.assert_close(h1[..., H:2 * H], h[..., :H])  # the old state moves one slot back
    assert ModularGRUPolicy(**three_modules(noise_std=0.0)).noise_dim == 0


# ------------------------------------------------------------------------------------ training keeps structure
@pytest.mark.parametrize("zero_out", [False, True])
def test_masks_and_dale_signs_hold_after_50_adam_steps(zero_out):
    torch.manual_seed(0)
    policy = ModularGRUPolicy(**three_modules(spectral_scaling=1.5))
    mask_in, mask_rec, mask_y = policy.mask_in.bool(), policy.mask_rec.bool(), policy.mask_Y.bool()
    sign = policy.unit_sign
    assert (sign < 0).any() and (sign > 0).any() and (~mask_rec).any() and (~mask_in).any()
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    obs, target = torch.randn(10, 8, 6), torch.rand(10, 8, 2)
    for _ in range(50):
        actions, _ = rollout(policy, obs, torch.randn(10, 8, 12))
        loss = ((actions - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    w = policy.effective_weights()
    assert torch.all(w["W_in"][:, ~mask_in] == 0) and torch.all(w["W_rec"][:, ~mask_rec] == 0)
    assert torch.all(w["Y"][~mask_y] == 0)
    assert torch.all(w["W_rec"] * sign >= 0)  # Dale's signs hold by construction
    # the masked raw weights never moved, and Adam did push some raw weights across zero
    assert torch.all(policy.W_in[:, ~mask_in] == 0) and torch.all(policy.W_rec[:, ~mask_rec] == 0)
    assert torch.all(policy.Y[~mask_y] == 0)
    assert (policy.W_rec * sign < 0).any()
    before = rollout(policy, obs)[0]
    policy.enforce_dale(zero_out=zero_out)
    assert torch.all(policy.W_rec * sign >= 0)
    if not zero_out:  # flipping restores what the step already used: outputs unchanged
        torch.testing.assert_close(rollout(policy, obs)[0], before, rtol=0, atol=0)


def test_weights_zeroed_by_enforce_dale_can_grow_again():
    torch.manual_seed(0)
    policy = ModularGRUPolicy(**three_modules(connectivity_delay=None, output_delay=0))
    with torch.no_grad():
        policy.W_rec.neg_()  # every weight wrongly signed
    policy.enforce_dale(zero_out=True)
    assert torch.all(policy.W_rec == 0)
    h = policy.initial_hidden((4,)) + 0.5
    a, h1 = policy(torch.randn(4, 6), h)
    (a.sum() + h1.sum()).backward()
    live = policy.mask_rec.bool().expand_as(policy.W_rec)
    assert torch.all(policy.W_rec.grad[~live] == 0) and (policy.W_rec.grad[live] != 0).float().mean() > 0.5


def test_inhibitory_units_project_only_inside_their_module():
    policy = ModularGRUPolicy(**three_modules(connectivity_mask=np.ones((3, 3))))
    module = torch.as_tensor(policy.layout.unit_module())
    outside = module[:, None] != module[None, :]
    inhibitory = (policy.unit_sign < 0).expand_as(policy.mask_rec)
    assert inhibitory.any()
    assert torch.all(policy.mask_rec[outside & inhibitory] == 0)
    assert policy.mask_rec[outside & ~inhibitory].any()


def test_dale_initial_balance_and_spectral_scaling():
    torch.manual_seed(3)
    policy = ModularGRUPolicy(**three_modules())
    w, sign = policy.W_rec[2].detach(), policy.unit_sign
    torch.testing.assert_close(w[:, sign > 0].sum(), torch.tensor(1.0))  # excitatory weights sum to 1
    torch.testing.assert_close(w[:, sign < 0].sum(), torch.tensor(-1.0))  # inhibitory to -1
    torch.manual_seed(3)
    scaled = ModularGRUPolicy(**three_modules(spectral_scaling=0.9))
    radius = torch.linalg.eigvals(scaled.effective_weights()["W_rec"][2].double()).abs().max()
    torch.testing.assert_close(radius, torch.tensor(0.9, dtype=torch.float64))


# ------------------------------------------------------------------------------------ delays
@pytest.mark.parametrize("delay", [0, 1, 3])
def test_delay_shows_module_activity_exactly_d_steps_late(delay):
    torch.manual_seed(0)
    policy = chain(delay, noise_std=0.0)
    _, states = rollout(policy, impulse(8))
    assert first_response(states, slice(0, 3)) == 0  # module 0 responds to the impulse at once
    # module 1 reads module 0's state of `delay` steps before: one step after module 0 with no delay
    assert first_response(states, slice(3, 7)) == 1 + delay


@pytest.mark.parametrize("delay", [1, 2])
def test_output_delay_reads_the_state_d_steps_back(delay):
    obs = torch.randn(7, 3, 6)
    torch.manual_seed(5)
    plain = ModularGRUPolicy(**three_modules(output_delay=0, connectivity_delay=None, noise_std=0.0))
    torch.manual_seed(5)
    late = ModularGRUPolicy(**three_modules(output_delay=delay, connectivity_delay=None, noise_std=0.0))
    a0, s0 = rollout(plain, obs)
    a1, s1 = rollout(late, obs)
    torch.testing.assert_close(s1[..., :12], s0[..., :12])  # same dynamics
    torch.testing.assert_close(a1[delay:], a0[:-delay])
    start = torch.sigmoid(torch.tanh(late.h0) @ (late.Y * late.mask_Y).T + late.bY).expand(delay, 3, -1)
    torch.testing.assert_close(a1[:delay], start)


# ------------------------------------------------------------------------------------ lesions
def test_unit_lesion_zeroes_its_units_only_inside_its_window():
    torch.manual_seed(1)
    obs = torch.randn(10, 4, 6)
    intact = ModularGRUPolicy(**three_modules(noise_std=0.0))
    lesioned = ModularGRUPolicy(**three_modules(noise_std=0.0))
    lesioned.load_state_dict(intact.state_dict())
    lesioned.set_lesion((3, 6), units=[0, 5], modules=[2])
    silenced = torch.zeros(12, dtype=torch.bool)
    silenced[[0, 5, 9, 10, 11]] = True
    _, s_intact = rollout(intact, obs)
    _, s_les = rollout(lesioned, obs)
    act = s_les[..., :12]
    torch.testing.assert_close(s_les[:3], s_intact[:3], rtol=0, atol=0)  # untouched before the window
    assert torch.all(act[3:6][..., silenced] == 0)
    assert torch.all(act[3:6][..., ~silenced] != 0)
    assert torch.all(act[6:][..., silenced] != 0)  # and they come back after it


def test_lesion_settings_travel_with_the_state_dict():
    source = ModularGRUPolicy(**three_modules(noise_std=0.0))
    source.set_lesion((2, 4), units=[3], pairs=[(0, 1)])
    target = ModularGRUPolicy(**three_modules(noise_std=0.0, random_seed=5))
    target.load_state_dict(source.state_dict())
    assert target.lesions == source.lesions == {"units", "pairs"}
    obs = torch.randn(6, 2, 6)
    torch.testing.assert_close(rollout(target, obs), rollout(source, obs), rtol=0, atol=0)


def test_pair_lesion_cuts_a_module_pair_inside_its_window():
    policy = chain(0, noise_std=0.0)
    policy.set_lesion((0, 4), pairs=[(1, 0)])
    _, states = rollout(policy, impulse(8))
    assert first_response(states, slice(0, 3)) == 0
    assert first_response(states, slice(3, 7)) == 4  # the cut 0 -> 1 is restored at step 4
    policy.set_lesion((0, None), pairs=[(1, 0)])
    _, states = rollout(policy, impulse(8))
    assert torch.all(states[..., 3:7] == 0)


def test_cancelation_matrix_acts_only_inside_its_window():
    torch.manual_seed(2)
    C = -0.5 * np.eye(12)
    policy = ModularGRUPolicy(**three_modules(noise_std=0.0, cancelation_matrix=C, cancel_window=(2, 3)))
    obs = torch.randn(5, 3, 6)
    _, states = rollout(policy, obs)
    expect = policy.step(obs[2], states[1], None, None)[1]  # the step-2 update without cancelation
    torch.testing.assert_close(states[2][..., :12], 0.5 * expect[..., :12])
    h_step3 = policy.step(obs[3], states[2], None, None)[1]
    torch.testing.assert_close(states[3], h_step3)


# ------------------------------------------------------------------------------------ transforms
def test_ensemble_of_three_equals_three_separate_calls():
    torch.manual_seed(4)
    members = [ModularGRUPolicy(**three_modules(random_seed=s)) for s in (1, 2, 3)]
    assert not torch.equal(members[0].mask_rec, members[1].mask_rec)
    weights, buffers = stack_module_state(members)
    base = members[0]
    obs, noise = torch.randn(3, 5, 6), torch.randn(3, 5, 12)
    h = vmap(lambda w, b: functional_method(base, (w, b), "initial_hidden", (5,)))(weights, buffers)
    h = h + 0.1 * torch.randn_like(h)  # a state off the initial one
    step = lambda w, b, o, hi, n: functional_call(base, (w, b), (o, hi, n))  # noqa: E731
    for _ in range(4):  # a few steps, so the delay lines fill
        actions, h_next = vmap(step)(weights, buffers, obs, h, noise)
        for k, m in enumerate(members):
            a_k, h_k = m(obs[k], h[k], noise[k])
            torch.testing.assert_close(actions[k], a_k)
            torch.testing.assert_close(h_next[k], h_k)
        h = h_next


def test_enforce_dale_on_stacked_ensemble_weights_equals_each_member():
    from motornet_fn.nn.modular import enforce_dale_

    members = [ModularGRUPolicy(**three_modules(random_seed=s)) for s in (1, 2)]
    for m in members:
        with torch.no_grad():
            m.W_rec.add_(0.05 * torch.randn_like(m.W_rec) * m.mask_rec)  # some weights now wrongly signed
    weights, buffers = stack_module_state(members)
    enforce_dale_(weights["W_rec"], buffers["unit_sign"], zero_out=True)
    for k, m in enumerate(members):
        m.enforce_dale(zero_out=True)
        torch.testing.assert_close(weights["W_rec"][k], m.W_rec.detach(), rtol=0, atol=0)


def test_gradcheck_float64():
    torch.manual_seed(6)
    policy = ModularGRUPolicy(**three_modules()).double()
    policy.set_lesion((1, 3), units=[1], pairs=[(0, 1)])
    obs = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    h = (policy.initial_hidden((2,)) + 0.3 * torch.randn(2, policy.state_dim, dtype=torch.float64)).detach()
    h[..., -1] = 2.0  # inside the lesion window, away from its edges (the counter is not differentiable there)
    h.requires_grad_(True)
    w_rec = policy.W_rec.detach().clone().requires_grad_(True)
    noise = torch.randn(2, 12, dtype=torch.float64)

    def f(o, hh, w):
        return functional_call(policy, {"W_rec": w}, (o, hh, noise))

    assert torch.autograd.gradcheck(f, (obs, h, w_rec))


# ------------------------------------------------------------------------------------ masks
def test_connected_source_units_number_ceil_p_times_size():
    sizes, p = [7, 10, 5], np.array([[1.0, 0.35, 0.0], [0.2, 1.0, 0.66], [0.1, 0.0, 0.5]])
    for seed in range(5):
        policy = ModularGRUPolicy(**three_modules(module_size=sizes, connectivity_mask=p, proportion_excitatory=None,
                                                  random_seed=seed))
        mask, sl = policy.mask_rec, policy.layout.slices
        for i in range(3):
            for j in range(3):
                block = mask[sl[i], sl[j]]
                cols = block.any(dim=0)
                assert int(cols.sum()) == int(np.ceil(p[i, j] * sizes[j]))
                assert torch.all(block[:, cols] == 1)  # every unit of module i gets the same sources


def test_input_and_output_masks_are_bernoulli_with_the_given_probabilities():
    from motornet_fn.nn.connectivity import make_layout, sample_connectivity

    layout = make_layout(6, [20, 30], 4)
    probs = {"vision": [0.3, 0.8], "proprio": [0.5, 0.1], "task": [1.0, 0.0]}
    cols = {"vision": [0, 1], "proprio": [2, 3, 4], "task": [5]}
    counts, out_counts, n_seeds = {}, np.zeros(2), 300
    for seed in range(n_seeds):
        conn = sample_connectivity(layout, probs["vision"], probs["proprio"], probs["task"], np.eye(2), [0.25, 0.6],
                                   cols["vision"], cols["proprio"], cols["task"], rng=np.random.default_rng(seed))
        for kind, c in cols.items():
            for m, rows in enumerate(layout.slices):
                counts[kind, m] = counts.get((kind, m), 0) + conn.input[rows][:, c].sum()
        out_counts += [conn.output[:, s].sum() for s in layout.slices]
    for (kind, m), total in counts.items():
        n = n_seeds * layout.module_size[m] * len(cols[kind])
        p = probs[kind][m]
        assert abs(total / n - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12, (kind, m)
    for m, p in enumerate([0.25, 0.6]):
        n = n_seeds * 4 * layout.module_size[m]
        assert abs(out_counts[m] / n - p) <= 4 * np.sqrt(p * (1 - p) / n)


def test_excitatory_fraction_matches_proportion_excitatory():
    signs = np.concatenate([ModularGRUPolicy(**three_modules(module_size=[50, 50, 50], random_seed=s)).unit_sign.numpy()
                            for s in range(20)]).reshape(20, 3, 50)
    for m, p in enumerate([0.8, 0.7, 0.8]):
        n = 20 * 50
        assert abs((signs[:, m] > 0).mean() - p) <= 4 * np.sqrt(p * (1 - p) / n)


def test_same_seed_gives_identical_masks_and_another_seed_does_not():
    a, b, c = (ModularGRUPolicy(**three_modules(random_seed=s)) for s in (7, 7, 8))
    for name in ("mask_in", "mask_rec", "mask_Y", "unit_sign"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert any(not torch.equal(getattr(a, n), getattr(c, n)) for n in ("mask_in", "mask_rec", "mask_Y", "unit_sign"))


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("overrides,match", [
    ({"vision_mask": [1.0, 0.0]}, r"vision_mask must hold one probability per module \(3 modules\)"),
    ({"task_mask": [1.0, 1.5, 0.0]}, r"task_mask must hold probabilities in \[0, 1\]"),
    ({"connectivity_mask": np.ones((2, 2))}, r"connectivity_mask must be \(3, 3\) for 3 modules"),
    ({"connectivity_mask": -np.ones((3, 3))}, r"connectivity_mask must hold fractions in \[0, 1\]"),
    ({"connectivity_delay": -np.ones((3, 3))}, "connectivity_delay must hold non-negative integer"),
    ({"connectivity_delay": np.full((3, 3), 1.5)}, "connectivity_delay must hold non-negative integer"),
    ({"connectivity_delay": np.zeros((3, 2))}, r"connectivity_delay must be \(3, 3\)"),
    ({"output_delay": -1}, "output_delay must be a non-negative integer"),
    ({"activation": "relu"}, r"activation must be one of \['rect_tanh', 'tanh'\], got 'relu'"),
    ({"proportion_excitatory": [0.5]}, "proportion_excitatory must hold one probability per module"),
    ({"task_dim": [4]}, "must list each of the 6 input columns once"),
    ({"task_dim": [4, 9]}, r"task_dim must list integer input columns in \[0, 6\)"),
    ({"module_size": [4, 0, 3]}, "module_size must be a non-empty list of positive ints"),
    ({"cancelation_matrix": np.eye(3)}, r"cancelation_matrix must be \(12, 12\)"),
    ({"cancel_window": (5, 2)}, r"window must be \(t0, t1\) integer steps"),
    ({"noise_std": -1.0}, "noise_std must be a standard deviation >= 0"),
    ({"input_gain": 0}, "input_gain must be a gain > 0, got 0"),
    ({"spectral_scaling": -1}, "spectral_scaling must be None or a spectral radius > 0"),
])
def test_bad_arguments_are_named(overrides, match):
    with pytest.raises(ValueError, match=match):
        ModularGRUPolicy(**three_modules(**overrides))


# ------------------------------------------------------------------------------------ MotorNet's class
def motornet_kwargs(**overrides) -> dict:
    kwargs = three_modules(**overrides)
    return {k: v for k, v in kwargs.items() if k != "noise_std"}


def test_class_steps_equal_the_functional_form():
    """The stateful class (own buffer, shared per-step noise from torch's generator) equals the
    functional step on a packed state with the same draws."""
    torch.manual_seed(8)
    cls = mn.policy.ModularPolicyGRU(**motornet_kwargs())
    fn = ModularGRUPolicy(**three_modules())
    fn.load_state_dict(cls.state_dict())
    obs = torch.randn(6, 3, 6)
    torch.manual_seed(9)
    h = cls.init_hidden(3)
    ys = []
    for t in range(6):
        y, h = cls(obs[t], h)
        ys.append(y)
    torch.manual_seed(9)
    h_fn = fn.initial_hidden((3,))
    for t in range(6):
        y, h_fn = fn(obs[t], h_fn, torch.randn(12))
        torch.testing.assert_close(ys[t], y)
    torch.testing.assert_close(h, fn.activity(h_fn))
    assert cls.counter == 6 and cls.h_buffer.shape == (3, 12, 3)
    assert cls.Wh.shape == (12, 18) and cls.mask_Wz.shape == (12, 18) and cls.unittype_W.shape == (12, 12)


def test_class_cancels_at_its_cancel_times_and_counts_steps():
    torch.manual_seed(10)
    C = -np.eye(12)  # h + h @ C = 0: the state is wiped at the cancel times
    policy = mn.policy.ModularPolicyGRU(**motornet_kwargs(cancelation_matrix=C))
    policy.set_cancel_times([2, 4])
    obs = torch.randn(6, 2, 6)
    h = policy.init_hidden(2)
    norms = []
    for t in range(6):
        _, h = policy(obs[t], h)
        norms.append(float(h.detach().abs().sum()))
    assert [n == 0 for n in norms] == [False, False, True, False, True, False]
    policy.reset_counter()
    assert policy.counter == 0
    policy.cancelation_matrix = None
    assert policy.cancelation_matrix is None and not policy.lesions
    policy.cancelation_matrix = C
    torch.testing.assert_close(policy.cancelation_matrix, torch.as_tensor(C, dtype=torch.float32))
    with pytest.raises(RuntimeError, match="call init_hidden"):
        policy(obs[0], torch.zeros(5, 12))
