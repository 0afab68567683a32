"""The suite's own tooling: a test that hangs fails with its traceback after the per-test
timeout the project configures (instead of running into CI's limit), and the summary of where
the suite's time goes."""

import importlib.util
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


def test_two_workers_run_a_modules_tests_in_one_worker():
    """make test's `-n 2 --dist loadgroup` keeps a module (and the small pipeline run's readers)
    on one worker only while xdist's groups take effect: with pytest 9.2 they silently did not
    (pytest-xdist issue 1386), and each worker built the shared run again."""
    out = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "test_parsing.py")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    passed = [line for line in out.stdout.splitlines() if " PASSED " in line]
    assert out.returncode == 0 and len(passed) >= 4, out.stdout[-2000:]
    assert all(line.rstrip().endswith("@tests.test_parsing") for line in passed), passed
    assert len({line.split("]")[0] for line in passed}) == 1, passed  # one worker ran them all


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
