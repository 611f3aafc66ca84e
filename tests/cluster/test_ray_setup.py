"""`--ray` without Ray installed, and the sizing of a Ray job from the cluster's
resources (no Ray runtime needed)."""

import sys
from pathlib import Path

import pytest
from PIL import Image

from annotator import cli
from annotator.core.executors.ray_runtime import NodeResources, plan_resources

ROOT = Path(__file__).resolve().parents[2]

# One Ray runtime at a time: under pytest-xdist (`make test`) these modules run on one worker.
pytestmark = pytest.mark.xdist_group("ray")


@pytest.mark.parametrize("command", ["label", "eval"])
def test_ray_option_without_ray_says_how_to_install_it(command, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    if command == "label":
        argv = ["label", str(tmp_path), "--classes", "sky", "--ray"]
    else:
        voc = tmp_path / "voc"
        for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
            (voc / folder).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(voc / "JPEGImages" / "x.jpg")
        Image.new("L", (8, 8)).save(voc / "SegmentationClass" / "x.png")
        (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("x\n")
        argv = ["eval", "--dataset", "voc", "--root", str(voc), "--classes-from", "gt", "--ray"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--ray needs Ray Data" in err and "pip install 'pnp-annotator[cluster]'" in err


def test_two_cpus_get_one_cpu_actor_and_keep_a_cpu_for_the_tasks():
    # Measured here: two 1-CPU actors on 2 CPUs starve the read tasks and the job hangs.
    plan = plan_resources([NodeResources(cpus=2)])
    assert (plan.actors, plan.actor_cpus, plan.actor_gpus, plan.task_cpus, plan.threads) == (1, 1.0, 0.0, 1.0, 1)


def test_two_cpu_actors_on_two_cpus_share_the_free_cpu():
    plan = plan_resources([NodeResources(cpus=2)], actors=2)
    assert plan.actors == 2 and plan.actor_cpus == 0.5 and plan.task_cpus == 1.0
    assert plan.actors * plan.actor_cpus + plan.task_cpus <= 2


def test_a_big_cpu_node_gets_several_multithreaded_actors():
    plan = plan_resources([NodeResources(cpus=16)])
    assert plan.actors == 3 and plan.actor_cpus == 5.0 and plan.threads == 5


def test_actors_fit_on_the_smallest_node_of_a_mixed_cluster():
    plan = plan_resources([NodeResources(cpus=8), NodeResources(cpus=2)])
    assert plan.actors == 2 and plan.actor_cpus == 1.0  # 7 + 1 free CPUs; a 4-CPU actor would not fit the small node


def test_one_actor_per_gpu_with_one_gpu_each():
    plan = plan_resources([NodeResources(cpus=16, gpus=2), NodeResources(cpus=4, gpus=1)])
    assert (plan.actors, plan.actor_gpus, plan.actor_cpus, plan.threads) == (3, 1.0, 1.0, 1)


def test_gpu_actors_share_cpus_when_a_node_has_more_gpus_than_free_cpus():
    plan = plan_resources([NodeResources(cpus=8, gpus=8)])
    assert plan.actors == 8 and plan.actor_cpus == 0.875 and 8 * plan.actor_cpus + plan.task_cpus <= 8


def test_a_one_cpu_node_still_runs_a_job():
    plan = plan_resources([NodeResources(cpus=1)])
    assert plan.actors == 1 and plan.actor_cpus == 0.5 and plan.task_cpus == 0.5


def test_impossible_layouts_say_why():
    with pytest.raises(ValueError, match="no CPU"):
        plan_resources([NodeResources(cpus=0, gpus=1)])
    with pytest.raises(ValueError, match="3 GPU model actors .* 2 GPU"):
        plan_resources([NodeResources(cpus=8, gpus=2)], actors=3)
    with pytest.raises(ValueError, match="at least 1 actor"):
        plan_resources([NodeResources(cpus=8)], actors=0)


def test_a_runtime_started_for_a_run_is_bound_to_loopback_and_stopped(tmp_path):
    """`--ray` without an address: ray_session starts a runtime on 127.0.0.1 only (it sets
    Ray's loopback switch itself, before Ray is imported) and stops it at the end."""
    import os
    import subprocess

    pytest.importorskip("ray")
    script = (
        "import ray\n"
        "from annotator.core.executors.ray_runtime import ray_session\n"
        "with ray_session(num_cpus=1) as s:\n"
        "    print(s.started, s.address, sorted({n['NodeManagerAddress'] for n in ray.nodes()}))\n"
        "print(ray.is_initialized())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-2:] == ["True local ['127.0.0.1']", "False"]
