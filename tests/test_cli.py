"""The `python -m engine` entry point: info JSON, unknown jobs, exit codes."""

import json
import subprocess
import sys

from engine.cli import main


def test_info_prints_json_with_backend(capsys):
    assert main(["info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backend"] == "numpy" or info["backend"] == "cupy"
    assert {"python", "numpy", "torch"} <= set(info["versions"])


def test_unknown_benchmark_is_a_clear_error(capsys):
    assert main(["bench", "no-such-bench"]) == 2
    err = capsys.readouterr().err
    assert "unknown bench 'no-such-bench'" in err and "Traceback" not in err


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "engine", "info"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["versions"]["twinlab"]


def test_bad_backend_env_gives_message_not_traceback():
    env = {"TWINLAB_BACKEND": "fortran", "PATH": ""}
    result = subprocess.run([sys.executable, "-m", "engine", "info"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 2
    assert "TWINLAB_BACKEND='fortran'" in result.stderr and "Traceback" not in result.stderr
