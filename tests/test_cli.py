"""The command line: the JSON contract, the human table, and bad input."""

from __future__ import annotations

import json
import os

import pynvml
import pytest

from rigtui.cli import main

GPU_KEYS = {
    "index", "name", "uuid", "utilization_gpu_pct", "utilization_memory_pct",
    "memory_used_bytes", "memory_total_bytes", "temperature_c", "temperature_slowdown_c",
    "fan_speeds_pct", "power_draw_w", "power_limit_w", "clocks_sm_mhz", "clocks_event_reasons",
    "pstate", "pcie_link_gen", "pcie_link_gen_max", "pcie_link_width", "pcie_link_width_max",
    "pcie_rx_bytes_per_s", "pcie_tx_bytes_per_s", "processes",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _no_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("RIGTUI_INTERVAL", raising=False)
    yield
    pynvml.nvmlLib = None
    pynvml._nvmlGetFunctionPointer_cache.clear()


def test_snapshot_json_over_the_simulated_rig(capsys):
    assert main(["snapshot", "--json", "--demo", "--demo-at", "45"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nvml"]["available"] is True
    assert data["nvml"]["driver_version"] == "580.95.05"
    (gpu,) = data["gpus"]
    assert set(gpu) >= GPU_KEYS
    assert gpu["name"] == "NVIDIA GeForce RTX 4090"
    assert gpu["memory_total_bytes"] == 24564 * 1024**2
    assert gpu["utilization_gpu_pct"] >= 90
    assert gpu["power_limit_w"] == 450.0
    assert gpu["temperature_slowdown_c"] == 87
    assert gpu["fan_speeds_pct"] and all(isinstance(s, int) for s in gpu["fan_speeds_pct"])
    assert gpu["pstate"] == "P2"
    assert "sw_power_cap" in gpu["clocks_event_reasons"]
    assert (gpu["pcie_link_gen"], gpu["pcie_link_width"]) == (4, 4)
    assert (gpu["pcie_link_gen_max"], gpu["pcie_link_width_max"]) == (4, 16)
    assert gpu["processes"][0]["name"] == "ollama"
    assert gpu["processes"][0]["used_memory_bytes"] > 5 * 1024**3
    assert len(data["cpu"]["per_core_pct"]) == 16
    assert data["memory"]["total_bytes"] == 64 * 1024**3
    assert {"used_bytes", "total_bytes", "swap_used_bytes"} <= set(data["memory"])


def test_snapshot_json_without_a_gpu(capsys, monkeypatch):
    def missing(name, *args, **kwargs):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(pynvml, "nvmlLib", None)
    monkeypatch.setattr(pynvml, "CDLL", missing)
    assert main(["snapshot", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gpus"] == []
    assert data["nvml"]["available"] is False
    assert "libnvidia-ml.so.1" in data["nvml"]["error"]
    assert data["cpu"]["percent"] >= 0
    assert data["memory"]["total_bytes"] > 0


def test_unreadable_values_are_null_with_a_reason(capsys, monkeypatch):
    from rigtui.sim.nvml import ERROR_NOT_SUPPORTED, SimulatedNvmlLibrary

    original = SimulatedNvmlLibrary.__init__

    def with_fault(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.inject("nvmlDeviceGetPowerUsage", ERROR_NOT_SUPPORTED)

    monkeypatch.setattr(SimulatedNvmlLibrary, "__init__", with_fault)
    assert main(["snapshot", "--json", "--demo"]) == 0
    gpu = json.loads(capsys.readouterr().out)["gpus"][0]
    assert gpu["power_draw_w"] is None
    assert gpu["unavailable"] == {"power_draw_w": "not supported"}


def test_snapshot_table(capsys):
    assert main(["--demo", "snapshot", "--demo-at", "140"]) == 0
    out = capsys.readouterr().out
    assert "GPU 0  NVIDIA GeForce RTX 4090" in out
    assert "PCIe Gen4 x4 / Gen4 x16" in out
    assert "ollama" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--interval", "0"], "between 0.25 and 60 seconds"),
        (["--interval", "61"], "between 0.25 and 60 seconds"),
        (["--interval", "soon"], "expected seconds as a number"),
        (["--history", "0"], "between 1 and 1440 minutes"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--demo", "nosuch"], "invalid choice: 'nosuch'"),
        (["snapshot", "--interval", "0"], "between 0.25 and 60 seconds"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_config_file_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("interval = -1\n")
    assert main(["--config", str(path), "snapshot", "--demo"]) == 2
    err = capsys.readouterr().err
    assert "rigtui: error:" in err and str(path) in err


def test_python_dash_m_runs_the_same_cli():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "rigtui", "--interval", "0"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "between 0.25 and 60 seconds" in result.stderr


def test_the_options_do_not_import_the_simulation_or_the_http_client():
    """A start on a real rig reads its options before anything else: importing the whole
    simulation (for the scenario names) or httpx there delayed every start's first frame."""
    import subprocess
    import sys

    probe = (
        "import sys, rigtui.cli; rigtui.cli.build_parser().parse_args([]); "
        "print(sorted(m for m in ('rigtui.sim.environment', 'rigtui.sim.ollama', "
        "'rigtui.sim.nvml.library', 'httpx', 'ollama', 'textual') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_snapshot_json_reports_power_peaks_and_the_budget(capsys):
    argv = ["snapshot", "--json", "--demo", "--demo-at", "45", "--power-budget", "600"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    gpu = data["gpus"][0]
    assert gpu["power_peaks_instant"] is True
    assert gpu["power_instant_w"] > 300
    assert gpu["power_peak_60s_w"] >= gpu["power_instant_w"]
    assert data["power"]["budget_w"] == 600.0


@pytest.mark.parametrize("budget", ["10", "many", "50000"])
def test_a_bad_power_budget_exits_2(capsys, budget):
    with pytest.raises(SystemExit) as exit_info:
        main(["--power-budget", budget, "snapshot"])
    assert exit_info.value.code == 2
    assert "power" in capsys.readouterr().err


def test_fit_json_over_the_simulated_rig(capsys):
    assert main(["fit", "--json", "--demo", "--demo-at", "20"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["num_ctx"] == 4096  # Ollama 0.12's default
    assert len(data["available_vram_bytes"]) == 1
    models = {row["model"]: row for row in data["models"]}
    assert models["llama3.1:8b"]["placement"] == "fits"
    big = models["llama3.3:70b"]
    assert big["placement"] == "partial"
    assert 0.4 < big["cpu_share"] < 0.5
    assert big["layers_total"] == 81
    assert any("num_gpu" in s for s in big["suggestions"])


def test_fit_table_for_a_planned_card(capsys):
    assert main(["fit", "--demo", "--vram", "48", "--num-ctx", "8k"]) == 0
    out = capsys.readouterr().out
    assert "GPU 0 (--vram): 48.0 GiB" in out
    assert "num_ctx 8192" in out
    assert "llama3.3:70b" in out and "fits: 100% GPU" in out


def test_fit_without_ollama_says_how_to_start_it(capsys):
    assert main(["fit", "--ollama-host", "127.0.0.1:9", "--vram", "24"]) == 1
    err = capsys.readouterr().err
    assert "Cannot reach Ollama at 127.0.0.1:9" in err and "ollama serve" in err


@pytest.mark.parametrize(("flag", "value"), [("--num-ctx", "lots"), ("--vram", "0")])
def test_fit_rejects_bad_numbers(capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", flag, value])
    assert exit_info.value.code == 2


def test_a_reader_that_goes_away_ends_the_output_quietly(monkeypatch):
    import contextlib
    import os
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` having read enough and left
    closed_pipe = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", closed_pipe)
    try:
        assert main(["snapshot", "--json", "--demo"]) == 141  # no traceback: it returned
    finally:
        monkeypatch.undo()
        with contextlib.suppress(BrokenPipeError):
            closed_pipe.close()


def _rigtui(argv, tmp_path, **popen):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "rigtui", *argv],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
        timeout=120,
        **popen,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["snapshot", "--json", "--demo"],
        ["snapshot", "--demo"],
        ["fit", "--json", "--demo"],
    ],
)
def test_output_to_a_full_device_is_one_message(tmp_path, argv):
    with open("/dev/full", "w") as full:
        result = _rigtui(argv, tmp_path, stdout=full)
    assert result.returncode == 1
    assert result.stderr == "rigtui: error: cannot write the output: No space left on device\n"


def test_a_reader_that_closes_early_leaves_no_traceback(tmp_path):
    """`rigtui snapshot --json | head -c 10`, with the reader gone before the first write."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = _rigtui(["snapshot", "--json", "--demo"], tmp_path, stdout=write_end)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def _exit_code_and_stderr(argv, capsys, environ=None):
    try:
        code = main(argv, environ)
    except SystemExit as exit_info:  # argparse's own errors
        code = exit_info.code
    return code, capsys.readouterr().err


HOSTILE = [
    # (argv, what the one-line message says)
    (["--interval", ""], "expected seconds as a number, got ''"),
    (["--interval", "nan"], "between 0.25 and 60 seconds (got nan)"),
    (["--interval", "inf"], "between 0.25 and 60 seconds (got inf)"),
    (["--interval", "-1"], "between 0.25 and 60 seconds (got -1)"),
    (["--history", "nan"], "between 1 and 1440 minutes (got nan)"),
    (["--history", "1e999"], "between 1 and 1440 minutes (got inf)"),
    (["--power-budget", ""], "expected watts as a number, got ''"),
    (["--power-budget", "nan"], "between 50 and 20000 watts (got nan)"),
    (["--power-budget", "-600"], "between 50 and 20000 watts (got -600)"),
    (["--demo-at", "nan", "snapshot"], "--demo-at must be between 0 and 86400"),
    (["--demo-at", "-1", "snapshot"], "--demo-at must be between 0 and 86400"),
    (["--demo-speed", "0", "snapshot"], "--demo-speed must be between 0.1 and 100"),
    (["--demo-speed", "1e999", "snapshot"], "--demo-speed must be between 0.1 and 100"),
    (["--scenario", "", "snapshot"], "invalid choice: ''"),
    (["--demo-driver", "", "snapshot"], "invalid choice: ''"),
    (["--theme", ""], "there is no theme ''"),
    (["--theme", "nope"], "there is no theme 'nope'; the themes are: ansi-dark,"),
    (["--ollama-host", "", "fit"], "Ollama address '': the address is empty"),
    (["--ollama-host", "http://[::1", "fit"], "is never closed with ']'"),
    (["--ollama-host", "ftp://box", "fit"], "the scheme must be http or https"),
    (["--config", "", "snapshot"], "expected a file name, got an empty one"),
    (["--config", "{tmp}", "snapshot"], "cannot read the config file {tmp}: Is a directory"),
    (["--config", "{tmp}/none.toml", "snapshot"], "{tmp}/none.toml: No such file or directory"),
    (["--config", "/dev/zero", "snapshot"], "config file /dev/zero is over 1024 KiB"),
    (["--config", "{tmp}/binary.toml", "snapshot"], "{tmp}/binary.toml is not valid TOML: it is"),
    (["--replay", ""], "expected a file name, got an empty one"),
    (["--replay", "{tmp}"], "cannot read {tmp}: Is a directory"),
    (["--replay", "{tmp}/none.jsonl"], "cannot read {tmp}/none.jsonl: No such file or directory"),
    (["--replay", "{tmp}/binary.toml"], "is not a rigtui recording"),
    (["record", ""], "expected a file name, got an empty one"),
    (["record", "{tmp}", "--demo"], "{tmp} is a directory"),
    (["record", "{tmp}/no/dir/r.jsonl", "--demo"], "No such file or directory"),
    (["record", "{tmp}/r.jsonl", "--duration", "nan"], "the duration must be a finite number"),
    (["record", "{tmp}/r.jsonl", "--duration", "1e999h"], "the duration must be a finite number"),
    (["record", "{tmp}/r.jsonl", "--duration", "-5"], "the duration must be positive"),
    (["record", "{tmp}/r.jsonl", "--duration", ""], "expected a duration such as 90"),
    (["record", "{tmp}/r.jsonl", "--format", ""], "invalid choice: ''"),
    (["bench", "--model", ""], "a model name cannot be empty"),
    (["bench", "--model", "m", "--prompt", " "], "a prompt cannot be empty"),
    (["bench", "--model", "m", "--prompt-file", ""], "expected a file name, got an empty one"),
    (["bench", "--model", "m", "--prompt-file", "{tmp}"], "cannot read {tmp}: Is a directory"),
    (["bench", "--model", "m", "--prompt-file", "{tmp}/none"], "cannot read {tmp}/none: No such"),
    (["bench", "--model", "m", "--prompt-file", "{tmp}/binary.toml"], "is not UTF-8 text"),
    (["bench", "--model", "m", "--prompt-file", "{tmp}/empty"], "{tmp}/empty holds no prompt"),
    (["bench", "--model", "m", "--repeat", "0"], "must be between 1 and 100000"),
    (["bench", "--model", "m", "--repeat", "nan"], "expected a whole number, got 'nan'"),
    (["bench", "--model", "m", "--repeat", "9" * 40], "must be between 1 and 100000"),
    (["bench", "--model", "m", "--max-tokens", "-1"], "must be between 1 and 100000"),
    (["bench", "--model", "m", "--num-ctx", ""], "expected a number of tokens, got ''"),
    (["fit", "--vram", "nan"], "VRAM must be between 0.5 and 4096 GiB"),
    (["fit", "--vram", "-1"], "VRAM must be between 0.5 and 4096 GiB"),
    (["fit", "--vram", ""], "expected GiB as a number, got ''"),
    (["fit", "--num-ctx", "-1"], "num_ctx must be between 256 and 1048576"),
    (["fit", "--num-ctx", "9" * 30 + "k"], "num_ctx must be between 256 and 1048576"),
]


@pytest.mark.parametrize(("argv", "message"), HOSTILE, ids=[" ".join(a) for a, _ in HOSTILE])
def test_hostile_values_get_a_message_and_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00binary\x9b[31m")
    (tmp_path / "empty").write_text("\n\n")
    tmp = str(tmp_path)
    code, err = _exit_code_and_stderr([a.replace("{tmp}", tmp) for a in argv], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    # One error line (after argparse's usage, where it is argparse that refuses), and it says why.
    (error_line,) = [line for line in err.splitlines() if "error:" in line]
    assert error_line == err.strip().splitlines()[-1]
    assert message.replace("{tmp}", tmp) in error_line


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RIGTUI_INTERVAL", "nan", "environment variable RIGTUI_INTERVAL: the interval must be"),
        ("RIGTUI_THEME", "nope", "environment variable RIGTUI_THEME: there is no theme 'nope'"),
        ("OLLAMA_HOST", "http://[::1", "environment variable OLLAMA_HOST: Ollama address"),
        ("RIGTUI_POWER_BUDGET", "inf", "environment variable RIGTUI_POWER_BUDGET: the power"),
        ("RIGTUI_CONFIG", "/dev/zero", "config file /dev/zero is over 1024 KiB"),
    ],
)
def test_hostile_environment_values_get_a_message_and_exit_2(
    tmp_path, capsys, variable, value, message
):
    environ = {"HOME": str(tmp_path), variable: value}
    code, err = _exit_code_and_stderr(["snapshot", "--demo"], capsys, environ)
    assert (code, "Traceback" in err) == (2, False)
    assert err.startswith(f"rigtui: error: {message}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "{file}", "snapshot"],
        ["--replay", "{file}"],
        ["bench", "--model", "m", "--prompt-file", "{file}"],
    ],
)
def test_an_unreadable_file_is_named(tmp_path, capsys, argv):
    unreadable = tmp_path / "secret"
    unreadable.write_text("interval = 2\n")
    unreadable.chmod(0)
    code, err = _exit_code_and_stderr([a.replace("{file}", str(unreadable)) for a in argv], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{unreadable}: Permission denied" in err
