"""TrainConfig on the engine: tasks and their options from the registry, compile="auto", named errors."""
import pytest
import torch

import motornet_fn as mn
from motornet_fn.cli import main
from motornet_fn.nn import TrainConfig, Trainer
from motornet_fn.nn.objective import AUTO_COMPILE_MIN_STEPS, auto_compile


def test_bad_values_are_named():
    with pytest.raises(ValueError, match=r"compile must be True, False or \"auto\", got 'yes'"):
        TrainConfig(compile="yes").validate()
    with pytest.raises(ValueError, match=r"task must be one of \[.*'centre_out'.*\], got 'reach'"):
        TrainConfig(task="reach").validate()
    with pytest.raises(ValueError, match=r"policy must be one of \['gru', 'mlp', 'modular', 'rate'\], got 'lstm'"):
        TrainConfig(policy="lstm").validate()
    with pytest.raises(ValueError, match=r"task 'random_reach' does not take option\(s\) \['n_targets'\]"):
        TrainConfig(task_options={"n_targets": 4}).validate()
    with pytest.raises(ValueError, match=r"catch_prob must be a probability in \[0, 1\], got 2"):
        TrainConfig(task="delayed_reach", task_options={"catch_prob": 2}).validate()
    for bad in ("auto", 1, "yes"):
        with pytest.raises(ValueError, match="compile must be True, False or None"):
            mn.effector.ReluPointMass24(compile=bad)
        with pytest.raises(ValueError, match="compile must be True, False or None"):
            mn.environment.RandomTargetReach(mn.effector.ReluPointMass24(), compile=bad)
        with pytest.raises(ValueError, match="compile must be True, False or None"):
            mn.policy.PolicyGRU(4, 8, 2, device="cpu", compile=bad)


def test_the_cpp_loop_build_is_chosen_by_the_steps_left_to_train():
    from motornet_fn.nn.objective import ONE_FILE_MIN_STEPS, compile_options, training_vector_options

    vectors = training_vector_options()
    options, reason = compile_options(ONE_FILE_MIN_STEPS // 100, 100)
    assert options == {"cpp_wrapper": True, **vectors} and "as one file" in reason
    options, reason = compile_options(ONE_FILE_MIN_STEPS // 100 - 1, 100)
    assert options == {"cpp_wrapper": True, "cpp_wrapper_build_separate": True, **vectors}
    assert "built apart from its kernels" in reason and str(ONE_FILE_MIN_STEPS - 100) in reason
    options["cpp_wrapper"] = False  # the caller's copy: the module's options stay as they are
    assert compile_options(1, 100)[0]["cpp_wrapper"] is True


@pytest.mark.parametrize("capability, expected", [("AVX512", {"cpp.simdlen": 256}), ("AVX2", {}), ("DEFAULT", {}),
                                                  ("SVE256", {}), ("ZVECTOR", {})])
def test_training_kernels_are_avx2_wide_only_where_aten_uses_avx512(monkeypatch, capability, expected):
    """AVX-512 CPUs all have AVX2, so narrowing is safe there; anywhere else inductor's own choice stands (on
    ARM a simdlen of 256 would pick SVE, not narrow anything)."""
    from motornet_fn.nn import objective

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert objective.training_vector_options() == expected
    assert objective.compile_options(1, 100)[0].items() >= expected.items()
    assert ("cpp.simdlen" in objective.compile_options(10**6, 100)[0]) == bool(expected)


def test_compile_auto_is_decided_by_the_steps_left_to_train(capfd):
    assert auto_compile(400, 100, []) == (True, auto_compile(400, 100, [])[1])
    assert auto_compile(399, 100, [])[0] is False and auto_compile(10**6, 100, ["truncated"])[0] is False
    short = Trainer(TrainConfig(n_batches=2, batch_size=2, episode_duration=0.05, hidden_size=4))
    short.fit(progress=False)
    assert short.compiling is False and "compile=auto: running eagerly (run too short" in capfd.readouterr().err
    long = Trainer(TrainConfig(n_batches=AUTO_COMPILE_MIN_STEPS // 100, batch_size=2, hidden_size=4))
    assert long.resolve_compile() is True  # 400 batches x 100 steps: compiles (not run here)
    assert Trainer(TrainConfig(n_batches=10**5, truncate_every=5, hidden_size=4)).resolve_compile() is False


@pytest.mark.parametrize("task,options", [("centre_out", {"n_targets": 4, "radius": 0.05}),
                                          ("delayed_reach", {"catch_prob": 0.5, "target_on": 0.05,
                                                             "delay_range": [0.05, 0.1]}),
                                          ("random_reach_loads", {"max_load": 2.0})])
def test_every_task_trains_with_its_options(task, options):
    trainer = Trainer(TrainConfig(task=task, task_options=options, n_batches=2, batch_size=4, episode_duration=0.3,
                                  hidden_size=8, effector="RigidTendonArm26", muscle="RigidTendonHillMuscle"))
    assert trainer.env_spec.task == mn.core.tasks.get_task(task, **options)
    trainer.fit(progress=False)
    assert all(torch.isfinite(torch.tensor(x)).all() for x in trainer.log.loss)


def test_cli_task_options_come_from_the_registry(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--task", "centre_outt"])
    assert "invalid choice: 'centre_outt'" in capsys.readouterr().err
    code = main(["train", "--task", "random_reach", "--n-targets", "4", "--out", str(tmp_path / "a")])
    assert code == 2
    assert "--n-targets: not an option of task 'random_reach' (its options: none)" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    run = tmp_path / "b"
    assert main(["train", "--task", "centre_out", "--n-targets", "4", "--radius", "0.2", "--batches", "1",
                 "--batch-size", "2", "--episode-duration", "0.05", "--hidden-size", "4", "--no-progress",
                 "--out", str(run)]) == 0
    assert Trainer.__name__ and (run / "config.json").read_text().count('"n_targets": 4') == 1
