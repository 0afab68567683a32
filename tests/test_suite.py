"""The suite's own tooling: a test that hangs fails with its traceback after the per-test
timeout the project configures (instead of running into CI's limit), and the summary of where
the suite's time goes."""

import importlib.util
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_hung_test_fails_with_its_traceback_once_its_time_is_up(tmp_path):
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < settings["timeout"] <= 30 * 60  # bounded well inside CI's 90 minutes
    hung = tmp_path / "test_hangs.py"
    hung.write_text("import time\n\n\ndef test_waits_forever():\n    time.sleep(3600)\n")
    began = time.monotonic()
    # the project's pytest settings, with only the limit shortened
    out = subprocess.run([sys.executable, "-m", "pytest", str(hung), "-c", str(ROOT / "pyproject.toml"), "--rootdir",
                          str(tmp_path), "-o", "timeout=3", "-p", "no:cacheprovider"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1 and "1 failed" in out.stdout, out.stdout[-2000:]
    assert "Timeout (>3.0s) from pytest-timeout" in out.stdout and "time.sleep(3600)" in out.stdout, out.stdout[-2000:]
    assert time.monotonic() - began < 120


def test_two_workers_keep_a_module_and_the_shared_bootstraps_users_each_on_one_worker(tmp_path):
    """make test's `-n 2 --dist loadgroup` keeps a module, and the users of the tiny bootstrap
    (and of the small pipeline run on it), on one worker only while xdist's groups take effect:
    under pytest 9.2 they silently did not (pytest-xdist issue 1386), and each worker built
    the shared run again."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(
        "import pytest\nfrom tests.grouping import pytest_collection_modifyitems  # noqa: F401\n\n\n"
        "@pytest.fixture(scope='session')\ndef tiny_bootstrap():\n    return 1\n\n\n"
        "@pytest.fixture(scope='session')\ndef finished_run(tiny_bootstrap):\n    return 1\n")
    for module in ("test_one", "test_two"):  # each: three plain tests, one using the bootstrap, one the run on it
        (tmp_path / f"{module}.py").write_text("".join(f"def test_{i}():\n    pass\n\n\n" for i in range(3))
                                               + "def test_bootstrap(tiny_bootstrap):\n    pass\n\n\n"
                                               + "def test_run(finished_run):\n    pass\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    workers: dict[str, set[str]] = {}
    for line in out.stdout.splitlines():
        if " PASSED " in line:
            worker, test = line.split("]")[0], line.split(" PASSED ")[1].strip()
            workers.setdefault(test.rsplit("@", 1)[-1] if "@" in test else "(no group)", set()).add(worker)
    assert out.returncode == 0 and set(workers) == {"test_one", "test_two", "tiny_bootstrap"}, out.stdout[-2000:]
    assert all(len(ran_on) == 1 for ran_on in workers.values()), workers


def test_the_durations_table_is_summed_per_file_over_setup_call_and_teardown():
    spec = importlib.util.spec_from_file_location("suite_durations", ROOT / "benchmarks" / "suite_durations.py")
    durations = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(durations)
    report = ["============================= slowest durations =============================",
              "301.50s setup    tests/test_pipeline_end_to_end.py::test_the_pipeline_writes_a_report_with_all_three_methods",
              "12.25s call     tests/test_train.py::test_two_workers_follow_the_one_worker_loss_curve",
              "2.00s teardown tests/test_train.py::test_a_killed_worker_resumes_from_its_last_checkpoint",
              "0.75s call     tests/test_losses.py::test_kto[0.1-depo]",
              "(12 durations < 0.005s hidden.  Use -vv to show these durations.)",
              "512 passed in 1200.00s (0:20:00)"]
    assert durations.seconds_by_file(report) == {"tests/test_pipeline_end_to_end.py": 301.5, "tests/test_train.py": 14.25,
                                                "tests/test_losses.py": 0.75}
    assert list(durations.seconds_by_file(report)) == ["tests/test_pipeline_end_to_end.py", "tests/test_train.py",
                                                      "tests/test_losses.py"]


def test_a_test_session_leaves_no_home_or_ray_folder_behind(tmp_path):
    """Each session runs with a home and Ray folder of its own (conftest.py); left behind they
    filled the disk CI shares (194 of them, 700 MB each)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_stats.py"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(temp)})
    assert out.returncode == 0 and " passed" in out.stdout, out.stdout[-2000:]
    assert not list(temp.glob("depo-test-*"))
