import os
import tempfile
import uuid
from pathlib import Path

from tests.grouping import pytest_collection_modifyitems  # noqa: F401  (a hook: xdist's worker groups)
from tests.processes import SESSION_MARKER


def _as_on_a_fresh_machine() -> Path:
    """Run the suite as on a machine that never ran Ray: an empty home folder (no ~/.ray token,
    no caches), a private Ray temp folder (no cluster files of a head the developer runs), no
    cluster address or token from the caller's shell. Done before anything is imported that
    reads these at import time (Hugging Face's cache paths)."""
    fresh = Path(tempfile.mkdtemp(prefix="depo-test-"))  # short: Ray's socket paths must stay under 108 bytes
    (fresh / "home").mkdir()
    os.environ["HOME"] = str(fresh / "home")
    os.environ["RAY_TMPDIR"] = str(fresh)
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        os.environ.pop(name, None)
    os.environ[SESSION_MARKER] = uuid.uuid4().hex
    return fresh


_FRESH = _as_on_a_fresh_machine()

import pytest  # noqa: E402
import yaml  # noqa: E402

from depo_ray.config import load_yaml  # noqa: E402
from depo_ray.models.loading import load_tokenizer  # noqa: E402
from depo_ray.models.tiny import build_tiny_policy, vocabulary_of  # noqa: E402
from depo_ray.models.config import TinyModelConfig
from depo_ray.pipeline.config import PipelineConfig  # noqa: E402
from environments.babyai.vocabulary import vocabulary_texts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


_running = {"marks": set(), "test": ""}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Note the test about to run before its fixtures start (a module fixture may start Ray)."""
    _running.update(marks={mark.name for mark in item.iter_markers()}, test=item.nodeid)


def _refused_unless_marked(mark: str, what: str, start):
    """``start`` that fails unless the running test carries ``mark``: the markers stay true, so
    `make test-fast` (-m "not vllm and not ray") never starts Ray or vLLM."""
    def guarded(*args, **kwargs):
        if mark not in _running["marks"]:
            raise RuntimeError(f"{_running['test']} starts {what} but is not marked @pytest.mark.{mark}")
        return start(*args, **kwargs)
    return guarded


def _guard_markers() -> None:
    import ray

    from depo_ray.serving import engine, router

    ray.init = _refused_unless_marked("ray", "Ray", ray.init)
    engine.engine_arguments = _refused_unless_marked("vllm", "a vLLM engine", engine.engine_arguments)
    router.start_router = _refused_unless_marked("vllm", "vLLM policy servers", router.start_router)


_guard_markers()


def pytest_sessionfinish(session, exitstatus):
    """Fail the session if a Ray or vLLM process it started is still alive (an orphan holds
    memory and cores long after its cluster is gone), and end those processes; then remove
    the session's home and Ray folder (about 700 MB of logs and caches per session)."""
    import shutil
    import sys

    from depo_ray.processes import kill
    from tests.processes import describe, survivors

    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        sys.modules["ray"].shutdown()
    left = survivors(SESSION_MARKER, os.environ[SESSION_MARKER], grace_s=30)
    if left:
        print("\nprocesses this test session started are still alive after it ended:")
        for process in left:
            print(f"  {describe(process)}")
        kill(left)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    shutil.rmtree(_FRESH, ignore_errors=True)


def session_ray():
    """The session's one local Ray instance (2 CPUs), started by the first test that asks and
    shut down when the session ends: for tests that need a cluster but are not about its
    start or isolation (each start costs seconds and a few hundred MB). A test that shuts Ray
    down leaves the next one a fresh instance."""
    import ray

    from depo_ray.cluster import connect

    if not ray.is_initialized():
        connect(num_cpus=2, fresh=True)
    return ray.get_runtime_context()


@pytest.fixture
def ray_cluster():
    """``session_ray`` for one test."""
    return session_ray()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A freshly built tiny policy folder (2 small layers keep tests fast)."""
    config = TinyModelConfig(hidden_size=128, num_layers=2, intermediate_size=256, max_position_embeddings=4096)
    return build_tiny_policy(vocabulary_of(vocabulary_texts()), tmp_path_factory.mktemp("tiny") / "policy", config)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))


def easy_tasks(seeds, levels=range(4)) -> list[int]:
    """The red-ball / GoToObj levels (0-3) at ``seeds``: task id = level + 40 · seed."""
    return [level + 40 * seed for seed in seeds for level in levels]


SMALL_TRAIN = {"lora": None, "learning_rate": 1e-3, "epochs": 1, "global_batch_size": 4, "micro_batch_size": 4,
               "num_workers": 2, "checkpoint_every": 100}
SERVING = {"replicas": 1, "cpus_per_replica": 1, "request_timeout_s": 120,
           "engine": {"max_model_len": 4096, "dtype": "float32"}}


def small_pipeline(run_dir: Path) -> dict:
    return {
        "run_dir": str(run_dir),
        "env": {"name": "babyai", "options": {"max_turns": 6}},
        # seeds 8 and 9 are evaluated; the MCTS tests search seeds from 20 on with this π_BC,
        # trained enough that greedy play wins about 1 task in 3 there (so both labels appear)
        "bootstrap": {"task_ids": easy_tasks([*range(8), *range(10, 14)]), "check_tasks": [0, 1], "min_valid_rate": 0.0,
                      "max_rounds": 1, "expert": {"detour_share": 0.3},
                      "train": {**SMALL_TRAIN, "loss": {"name": "sft"}, "learning_rate": 3e-3, "epochs": 8, "num_workers": 1}},
        "generate": {"task_ids": [0, 2, 40, 42], "workers": 2, "cpus_per_worker": 0.25, "serving": SERVING,
                     "search": {"simulations": 2, "children": 2, "max_depth": 6, "temperature": 0.5, "max_new_tokens": 48}},
        "label": {"expert_demos": "all", "invalid_turns": "undesirable"},
        "bc": {**SMALL_TRAIN, "loss": {"name": "sft"}},
        "kto": {**SMALL_TRAIN, "loss": {"name": "kto"}},
        "depo": {**SMALL_TRAIN, "loss": {"name": "depo", "alpha1": 3.0, "alpha2": 3.0}},
        "evaluate": {"task_ids": [321, 323, 361, 363], "workers": 2, "cpus_per_worker": 0.25, "serving": SERVING,
                     "max_new_tokens": 48},
        "math": {"benchmark": "generated", "generated_count": 3, "max_new_tokens": 16, "workers": 1,
                 "cpus_per_worker": 0.25},
    }


@pytest.fixture(scope="session")
def tiny_bootstrap(tmp_path_factory):
    """The small pipeline's bootstrap stage (tiny policy, expert demos, one BC round), run once
    per session with the settings the pipeline gives it: the MCTS tests search with its π_BC,
    and ``finished_run`` starts from a copy of its folder, so the stage resumes with nothing
    left to do. Returns the stage's BootstrapConfig and BootstrapRun, and π_BC."""
    from depo_ray.bootstrap.warm_start import bootstrap_policy
    from depo_ray.config import from_dict
    from depo_ray.pipeline.recipe import bootstrap_run

    folder = tmp_path_factory.mktemp("bootstrap")
    config = from_dict(PipelineConfig, small_pipeline(folder / "run"))
    target = bootstrap_run(config, folder, ROOT)
    session_ray()
    return config.bootstrap, target, bootstrap_policy(config.bootstrap, target, progress=False)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory):
    """Debian's Prometheus scraping the session's Ray every second (``finished_run`` starts it
    before its run); yields its port."""
    import ray

    from depo_ray.cluster import free_port
    from depo_ray.monitoring import start_prometheus

    session_ray()
    port = free_port()
    process = start_prometheus(Path(ray._private.worker.global_worker.node.get_session_dir_path()),
                               tmp_path_factory.mktemp("prometheus"), port, scrape_interval_s=1)
    yield port
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, tiny_bootstrap, prometheus):
    """The small pipeline, run to the end in process on the session's Ray (the pipeline
    tests resume it; the sweep tests start from its π_BC and evaluations), with Prometheus
    scraping it."""
    import shutil

    from depo_ray.pipeline.runner import run_pipeline

    folder = tmp_path_factory.mktemp("pipeline")
    config_file = folder / "pipeline.yaml"
    config_file.write_text(yaml.safe_dump(small_pipeline(folder / "run")))
    shutil.copytree(tiny_bootstrap[1].folder, folder / "run" / "bootstrap")
    session_ray()
    report = run_pipeline(load_yaml(PipelineConfig, config_file), ROOT, progress=False)
    return config_file, report
