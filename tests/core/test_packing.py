"""Packing pytrees into flat tensors: the scan's carry (FlatLayout) and its loop constants (ConstantLayout)."""
import pytest
import torch

from motornet_fn.core import build, engine
from motornet_fn.core.packing import ConstantLayout, FlatLayout, batch_first, batch_last
from motornet_fn.core.tree import tree_leaves
from motornet_fn.core.types import JointState, Loads


def test_flat_layout_packs_scalar_leaves_without_batch_dims():
    tree = {"a": torch.tensor(2.0), "b": torch.arange(6.0).reshape(2, 3)}
    layout = FlatLayout.of(tree, 0)
    flat = layout.pack(tree, ())
    assert flat.tolist() == [2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    back = layout.unpack(flat, ())
    assert back["a"].shape == () and back["a"].item() == 2.0
    assert torch.equal(back["b"], tree["b"])


def test_pack_by_field_puts_each_element_in_a_row_with_the_batch_last():
    """(n, *batch): row i is element i of the leaves in order, across the batch; unpacked, views again."""
    batch = (2, 3)
    tree = {"m": torch.arange(24.0).reshape(2, 3, 2, 2), "s": torch.arange(6.0).reshape(2, 3) + 100,
            "b": torch.tensor(7.0)}  # "b" broadcasts over the batch
    layout = FlatLayout.of(tree, 2)
    flat = layout.pack_by_field(tree, batch)
    assert flat.shape == (4 + 1 + 1, 2, 3) and flat.is_contiguous()  # the leaves in order: m, s, b
    assert torch.equal(flat[0], tree["m"][..., 0, 0]) and torch.equal(flat[3], tree["m"][..., 1, 1])
    assert torch.equal(flat[4], tree["s"]) and torch.equal(flat[5], torch.full((2, 3), 7.0))
    back = layout.unpack_by_field(flat, batch)
    assert torch.equal(back["m"], tree["m"]) and torch.equal(back["s"], tree["s"])
    assert back["b"].shape == (2, 3) and torch.equal(back["b"], torch.full((2, 3), 7.0))
    assert back["m"].stride()[1] == 1 and back["m"].untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()
    # a scan's records: a leading time dim before the rows
    stacked = torch.stack([flat, flat * 2, flat * 3])
    rows = layout.unpack_by_field(stacked, batch, lead=1)
    assert rows["m"].shape == (3, 2, 3, 2, 2) and torch.equal(rows["m"][2], 3 * tree["m"])


def test_batch_last_moves_the_batch_dims_after_the_trailing_ones_and_batch_first_undoes_it():
    x = torch.randn(5, 2, 3, 4, 6)  # (time, *batch (2, 3), *trailing (4, 6))
    moved = batch_last(x, 1, 2)
    assert moved.shape == (5, 4, 6, 2, 3) and moved.is_contiguous()
    assert torch.equal(moved[1, 3, 5], x[1, :, :, 3, 5])
    back = batch_first(moved, 1, 2)
    assert back.shape == x.shape and torch.equal(back, x)
    no_trailing = x[..., 0, 0]
    assert batch_last(no_trailing, 1, 2) is no_trailing and batch_first(no_trailing, 1, 2) is no_trailing


def test_a_scan_carries_and_reads_its_inputs_batch_last(monkeypatch):
    """The scan's carry is (n, batch) and its per-step input (time, trailing, batch): each field contiguous across
    the batch, what lets inductor vectorize a step across it. Results equal the eager loop's."""
    batch, steps = 4, 3
    handed = []
    original = engine._scan

    def scan(body, init, xs):
        handed.append((tuple(init.shape), [tuple(x.shape) for x in xs], [x.is_contiguous() for x in xs]))
        return original(body, init, xs)

    monkeypatch.setattr(engine, "_scan", scan)

    def body(carry, x):
        p = carry["p"] + x
        return {"p": p, "n": carry["n"] + p.sum(-1)}, {"p": p * 2}

    carry = {"p": torch.randn(batch, 5), "n": torch.zeros(batch)}
    xs = torch.randn(steps, batch, 5)
    ref = engine.iterate(body, carry, xs, steps)
    got = engine.iterate(body, carry, xs, steps, scan=True, batch_shape=(batch,), record_example={"p": xs[0]})
    assert handed == [((5 + 1, batch), [(steps, 5, batch)], [True])]
    for a, b in zip(tree_leaves(got), tree_leaves(ref)):
        assert a.shape == b.shape and torch.allclose(a, b)

    # records as wide as the carry (a recorded state) keep everything batch first
    def state_body(carry, x):
        new, _ = body(carry, x)
        return new, new

    ref = engine.iterate(state_body, carry, xs, steps)
    got = engine.iterate(state_body, carry, xs, steps, scan=True, batch_shape=(batch,), record_example=carry)
    assert handed[1] == ((batch, 5 + 1), [(steps, batch, 5)], [True])
    for a, b in zip(tree_leaves(got), tree_leaves(ref)):
        assert a.shape == b.shape and torch.allclose(a, b)


def test_constant_layout_round_trip_packs_only_no_grad_leaves_of_the_common_dtype():
    weight = torch.randn(3, requires_grad=True)
    tree = (torch.tensor(0.5), {"m": torch.arange(12.0).reshape(2, 6), "w": weight},
            torch.tensor([1, 2]), torch.ones(2, dtype=torch.float64), None, torch.full((4,), 7.0))
    layout = ConstantLayout.of(tree)
    assert layout.packed == (True, True, False, False, False, False, True)  # None is a leaf here
    flat, rest = layout.pack(tree)
    assert flat.shape == (1 + 12 + 4,) and flat[0].item() == 0.5 and flat[-1].item() == 7.0
    assert rest[0] is weight and rest[1].dtype == torch.int64 and rest[2].dtype == torch.float64
    back = layout.unpack(flat, rest)
    for got, want in zip(tree_leaves(back), tree_leaves(tree)):
        if want is None:
            assert got is None
            continue
        assert got.shape == want.shape and got.dtype == want.dtype and torch.equal(got, want)
    assert back[1]["w"] is weight and back[4] is None
    # the packed leaves are views of the one flat tensor (no copy inside the loop)
    assert back[1]["m"].untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()


def test_constant_layout_with_nothing_to_pack():
    tree = (torch.tensor([1, 2]), None)
    layout = ConstantLayout.of(tree)
    flat, rest = layout.pack(tree)
    assert flat is None and torch.equal(layout.unpack(flat, rest)[0], tree[0])


def _scan_lifted_inputs(fn, *args):
    """The number of tensors the (one) scan in ``fn``'s Dynamo graph takes as loop constants."""
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm

    torch.compile(fn, backend=backend, fullgraph=True)(*args)
    scans = [n for gm in graphs for n in gm.graph.nodes if n.op == "call_function" and "scan" in str(n.target)]
    assert len(scans) == 1
    return len(scans[0].args[-1])


@pytest.mark.parametrize("with_loads", [False, True])
def test_compiled_rollout_takes_the_parameters_into_its_loop_as_one_tensor(with_loads):
    spec, params = build.rigid_tendon_arm26()
    assert len(tree_leaves(params)) > 20
    joint = torch.tensor([[0.8, 1.0, 0.0, 0.0]]).repeat(3, 1)
    state = engine.eff.initial_state(spec, params, JointState(joint[:, :2].contiguous(), joint[:, 2:].contiguous()))
    actions = torch.rand(5, 3, spec.n_muscles, generator=torch.Generator().manual_seed(0))
    loads = Loads(torch.full((3, 2), 0.5), torch.zeros(3, 2)) if with_loads else None

    def run(p, s, a):
        return engine.rollout(spec, p, s, a, loads, record=None, scan=True)

    assert _scan_lifted_inputs(run, params, state, actions) == 1
    eager = engine.rollout(spec, params, state, actions, loads, record=None)
    for got, want in zip(tree_leaves(run(params, state, actions)), tree_leaves(eager)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_a_rollout_with_gradients_keeps_its_parameters_apart():
    """Packed constants slow the backward loop (measured), so with autograd recording they are not packed;
    the gradients still equal eager ones."""
    spec, params = build.rigid_tendon_arm26()
    joint = torch.tensor([[0.8, 1.0, 0.0, 0.0]]).repeat(2, 1)
    state = engine.eff.initial_state(spec, params, JointState(joint[:, :2].contiguous(), joint[:, 2:].contiguous()))
    actions = torch.rand(4, 2, spec.n_muscles, generator=torch.Generator().manual_seed(1)).requires_grad_()

    def run(p, s, a):
        return engine.rollout(spec, p, s, a, record=None, scan=True).joint.pos.sum()

    assert _scan_lifted_inputs(run, params, state, actions) == len(tree_leaves(params))
    grad = torch.autograd.grad(torch.compile(run, fullgraph=True, backend="aot_eager")(params, state, actions), actions)[0]
    want = torch.autograd.grad(engine.rollout(spec, params, state, actions, record=None).joint.pos.sum(), actions)[0]
    torch.testing.assert_close(grad, want, rtol=1e-5, atol=1e-7)
