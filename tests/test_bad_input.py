"""Every CLI entry and public loader, fed hostile values and files (Hypothesis): one clear line, never a traceback.

The CLI is called in-process (``engine.cli.main``); a rejected input must exit 2 with a single ``error: ...``
line that names the flag or field. Loaders get empty, random, wrong-type and truncated files and must either
return or raise a :class:`engine.errors.TwinLabError`. ``docs/bad-input.md`` lists what each input gets.
"""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.errors import TwinLabError

FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

# Values no numeric flag accepts: non-finite, astronomically large, or not a number at all (no digits).
NOT_A_VALUE = (st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e300", "1e300", "", " ", "0x1p3", "None", "½"])
               | st.text(st.characters(codec="utf-8", exclude_categories=["Nd", "Cs"]), max_size=12))

# (command, flag, field names the message may use); every flag of every command that takes a value.
RECIPE = ["temperature-c", "cs-pb-ratio", "pb-concentration-m", "oleic-acid-ml", "oleylamine-ml",
          "reaction-time-s", "water-ppm", "solvent"]
ASTRO = ["density", "temperature", "g0", "av", "zeta", "t-end-yr", "n-out"]
CASES = (
    [("synth simulate", f, ()) for f in RECIPE]
    + [("synth sweep --vary temperature_c=100:120:2 --out {tmp}/s.csv", f, ()) for f in RECIPE + ["workers"]]
    + [("synth sweep --out {tmp}/s.csv", "vary", ())]
    + [("synth dataset --n 20 --out {tmp}/d.parquet", f, ()) for f in ["n", "seed"]]
    + [("synth design --target-pl-nm 500", f, ()) for f in ["target-pl-nm", "max-fwhm-nm", "tolerance-nm",
                                                             "top", "seed", "phase", "fix"]]
    + [(f"astro {c} --out {{tmp}}/a.h5", f, ()) for c in ("solve", "emulate") for f in ASTRO]
    + [("astro dataset --n 2 --no-progress --out {tmp}/a.h5", f, ()) for f in ["n", "seed", "workers", "dask",
                                                                                "scheduler", "t-end-yr", "n-out"]]
    + [("diffusion data --dataset heisenberg --n 4 --out {tmp}/g.npz", f, ("T",)) for f in ["temperature"]]
    + [("diffusion data --dataset gmrf --n 4 --out {tmp}/g.npz", f, ("kappa",)) for f in ["n", "seed", "kappa",
                                                                                          "dataset"]]
    + [("diffusion sample --dataset gmrf --n 4 --out {tmp}/g.npz", f, ()) for f in ["n", "steps", "sampler", "seed",
                                                                                    "record-every", "dataset"]]
    + [("pde simulate --out {tmp}/p.npz", f, ()) for f in ["nx", "ny", "nu", "velocity", "buoyancy", "t-end",
                                                            "n-out", "seed", "equation", "init"]]
    + [("pde fit --data {tmp}/missing.npz", f, ("initial nu", "data")) for f in ["nu0", "max-iter"]]
    + [(f"{c} synth", f, ()) for c in ("bench", "train") for f in ["seed"]]
)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, names: tuple[str, ...]) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert any(name in err for name in names), f"message does not name {names}: {err}"


def names_for(flag: str, extra: tuple[str, ...]) -> tuple[str, ...]:
    return (f"--{flag}", flag, flag.replace("-", "_"), flag.replace("-", " "), *extra)


@pytest.mark.parametrize("command,flag,extra", CASES, ids=[f"{c.split(' --')[0]} --{f}" for c, f, _ in CASES])
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=NOT_A_VALUE)
def test_every_cli_flag_rejects_hostile_values_with_one_line(tmp_path_factory, capsys, command, flag, extra, value):
    tmp = tmp_path_factory.getbasetemp()
    argv = [*command.format(tmp=tmp).split(), f"--{flag}={value}"]
    code, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, names_for(flag, extra))


@FAST
@given(words=st.lists(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=10), max_size=4))
def test_unknown_commands_and_arguments_are_one_line(capsys, words):
    code, err = run_cli(["synth", "nonsense", *words], capsys)
    assert_one_line_error(code, err, ("invalid choice", "nonsense"))


@pytest.mark.parametrize("argv", [[], ["synth"], ["astro", "solve", "--elements", "martian"],
                                  ["report", "no-such-run", "--out", "x.html"], ["runs", "show", "🙂"],
                                  ["runs", "delete", "'; drop table runs;--", "--yes"], ["bench", "nope"]])
def test_missing_or_unknown_arguments_are_one_line(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    code, err = run_cli(argv, capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err


def test_bench_out_to_a_folder_is_refused_before_running(tmp_path, capsys):
    assert_one_line_error(*run_cli(["bench", "synth", "--out", str(tmp_path)], capsys), ("--out",))


# ---- files -------------------------------------------------------------------------------------------------

def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory) -> dict[str, bytes]:
    """One valid file of each kind, whose prefixes give the truncated cases."""
    from engine.checkpoints import save_checkpoint

    folder = tmp_path_factory.mktemp("valid")
    with h5py.File(folder / "a.h5", "w") as handle:
        handle.attrs["manifest"] = json.dumps({"n": 1})
        handle["status"] = np.zeros(1, dtype="i1")
    save_checkpoint({"w": __import__("torch").zeros(4)}, folder / "m.pt", {"data": "test"})
    return {"npz": _npz(x=np.linspace(-1, 1, 16, endpoint=False), t=np.linspace(0, 0.1, 4), u=np.ones((4, 16))),
            "h5": (folder / "a.h5").read_bytes(), "pt": (folder / "m.pt").read_bytes(),
            "csv": b"temperature_c,cs_pb_ratio,pb_concentration_m,oleic_acid_ml,oleylamine_ml,reaction_time_s,"
                   b"water_ppm,solvent,pl_peak_nm\n150,1,0.02,0.5,0.5,10,0,octadecene,510\n"}


def _hostile_file(valid: dict[str, bytes]):
    fixed = st.sampled_from([b"", b"\0" * 64, "naïve ✓ — ∞\n".encode(), b"PK\x03\x04garbage", b"\x89HDF\r\n\x1a\n",
                             _npz(x=np.array(["a"]), t=np.zeros(2), u=np.zeros(3)),
                             _npz(x=np.zeros(16), t=np.zeros(4), u=np.full((4, 16), np.nan))])
    truncated = st.sampled_from(sorted(valid)).flatmap(
        lambda kind: st.integers(0, len(valid[kind]) - 1).map(lambda n: valid[kind][:n]))
    return fixed | truncated | st.binary(max_size=256)


def _loaders(tmp):
    import hashlib

    from engine.astrochem.data import read_manifest
    from engine.astrochem.network import parse_network
    from engine.astrochem.train import load_training_data
    from engine.checkpoints import load_checkpoint
    from engine.diffusion.graphs import from_edges
    from engine.hybrid.data import read_trajectory_npz
    from engine.synthesis.lab import read_lab_csv

    def at_path(reader, name):
        def read(blob):
            (tmp / name).write_bytes(blob)
            return reader(tmp / name)
        return read

    def forged_checkpoint(blob):  # the card matches the (hostile) bytes, so torch.load itself must cope
        (tmp / "f.pt").write_bytes(blob)
        (tmp / "f.card.json").write_text(json.dumps({"sha256": hashlib.sha256(blob).hexdigest()}))
        return load_checkpoint(tmp / "f.pt")

    def edge_text(blob):
        return from_edges([line.split() for line in blob.decode("utf-8", "replace").splitlines()])

    return {"pde --data npz": read_trajectory_npz, "lab csv": read_lab_csv,
            "astro manifest": at_path(read_manifest, "m.h5"),
            "astro training data": at_path(load_training_data, "t.h5"),
            "checkpoint": forged_checkpoint, "edge list": edge_text,
            "reaction network": lambda blob: parse_network(blob.decode("utf-8", "replace"))}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_loader_answers_hostile_files_with_a_clear_error(tmp_path_factory, valid_files, data):
    tmp = tmp_path_factory.mktemp("hostile")
    loaders = _loaders(tmp)
    name = data.draw(st.sampled_from(sorted(loaders)), label="loader")
    blob = data.draw(_hostile_file(valid_files), label="file")
    try:
        loaders[name](blob)
    except TwinLabError as error:
        assert str(error).strip() and "\n" not in str(error).strip()


def test_a_parser_message_with_line_breaks_reaches_the_user_as_one_line():
    """pandas ends some tokenizer errors with a newline (found by the hostile-file test above)."""
    from engine.synthesis.lab import read_lab_csv

    ragged = b"a\n" + b"1\n" * 10 + b"1,2\n"
    with pytest.raises(TwinLabError) as caught:
        read_lab_csv(ragged)
    assert "not a readable CSV" in str(caught.value) and "\n" not in str(caught.value)


@FAST
@given(columns=st.lists(st.sampled_from(["temperature_c", "cs_pb_ratio", "pb_concentration_m", "oleic_acid_ml",
                                         "oleylamine_ml", "reaction_time_s", "water_ppm", "solvent", "pl_peak_nm",
                                         "colour", "", "ÿ", "temperature_c "]), max_size=12),
       cells=st.lists(st.sampled_from(["nan", "inf", "-1", "1e400", "", "abc", "150", "octadecene", "\"x,y\""]),
                      max_size=12))
def test_lab_csv_with_missing_extra_or_hostile_columns(columns, cells):
    from engine.synthesis.lab import read_lab_csv

    text = ",".join(columns) + "\n" + ",".join(cells) + "\n"
    try:
        result = read_lab_csv(text)
    except TwinLabError as error:
        assert "column" in str(error) or "CSV" in str(error)
        return
    for row in result.valid.itertuples():  # whatever is kept is finite and in range
        assert 80 <= row.temperature_c <= 250


def test_astro_dataset_never_modifies_a_foreign_hdf5_file(tmp_path, capsys):
    path = tmp_path / "mine.h5"
    with h5py.File(path, "w") as handle:
        handle["results"] = np.arange(3.0)
    before = path.read_bytes()
    code, err = run_cli(["astro", "dataset", "--n", "2", "--no-progress", "--out", str(path)], capsys)
    assert_one_line_error(code, err, ("astro dataset",))
    assert path.read_bytes() == before


def test_sweep_into_a_folder_with_a_corrupt_manifest_is_refused(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text("{not json")
    argv = ["synth", "sweep", "--vary", "temperature_c=100:120:2", "--vary", "water_ppm=0:10:2", "--vary",
            "cs_pb_ratio=1:2:2", "--out", str(tmp_path)]
    assert_one_line_error(*run_cli(argv, capsys), ("manifest",))
    assert (tmp_path / "manifest.json").read_text() == "{not json"


@pytest.mark.parametrize("argv,names", [
    ("pde simulate --seed=-1 --out {tmp}/p.npz", ("--seed",)),
    ("pde fit --data {tmp}/ok.npz --max-iter=0", ("max_iter",)),
    ("synth design --target-pl-nm 500 --top=0", ("top",)),
    ("astro dataset --n=1000000000 --no-progress --out {tmp}/a.h5", ("n must",)),
    ("astro dataset --n 2 --workers=1000000000 --no-progress --out {tmp}/a.h5", ("--workers",)),
    ("astro dataset --n 2 --dask=local:0 --no-progress --out {tmp}/a.h5", ("--dask",)),
    ("synth sweep --vary temperature_c=100:120:2 --workers=0 --out {tmp}/s.csv", ("--workers",)),
    ("diffusion data --dataset gmrf --n 4 --temperature=1 --out {tmp}/g.npz", ("T does not apply",)),
])
def test_numbers_outside_the_allowed_range_are_refused_before_work(tmp_path, capsys, argv, names):
    np.savez(tmp_path / "ok.npz", x=np.linspace(-1, 1, 16, endpoint=False), t=np.linspace(0, 0.1, 4),
             u=np.ones((4, 16)))
    assert_one_line_error(*run_cli(argv.format(tmp=tmp_path).split(), capsys), names)


def test_run_search_matches_wildcards_literally(tmp_path):
    from engine.runs import RunStore

    store = RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    store.save("t.kind", "plain title", {})
    store.save("t.kind", "100% yield_", {})
    assert [run.title for run in store.list("%")] == ["100% yield_"]
    assert [run.title for run in store.list("_")] == ["100% yield_"]
    assert store.list("\\") == []
