"Tests for the `stylecourse` command (lesson 09): a good run, every kind of bad input, help, demo, bench dispatch."
import os, subprocess, sys, types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylecourse.cli import main

RUN = ["--size", "32", "--steps", "2", "--weights", "random", "-q"]


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray(rng.integers(0, 255, (50, 30, 3), dtype=np.uint8)).save(tmp_path / "painting.jpg")
    return tmp_path / "photo.png", tmp_path / "painting.jpg"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_failure(code, err, out_path, expected=2):
    assert code == expected, err
    assert err.strip().splitlines()[-1].startswith("error:"), err
    assert "Traceback" not in err
    assert not Path(out_path).exists()
    assert not list(Path(out_path).parent.glob(".*.tmp"))  # no temporary file left behind


def test_good_run_writes_the_file(capsys, images, tmp_path):
    out = tmp_path / "sub" / "styled.jpg"  # a missing folder is created, the format comes from the suffix
    code, stdout, err = run(capsys, "transfer", *images, "-o", out, *RUN, "--style-weight", "1000", "--init", "noise",
                            "--seed", "3", "--tv-weight", "0.5", "--content-weight", "2", "--precision", "bf16", "--device", "cpu")
    assert code == 0, err
    assert out.exists() and Image.open(out).format == "JPEG" and Image.open(out).size == (32, 24)
    assert f"wrote {out}" in stdout and "Traceback" not in err


def test_progress_goes_to_stderr(capsys, images, tmp_path):
    code, stdout, err = run(capsys, "transfer", *images, "-o", tmp_path / "r.png", *RUN[:-1])  # without -q
    assert code == 0 and "style transfer" in err and "style transfer" not in stdout


OPTS = {"--size": "32", "--steps": "2", "--weights": "random"}

# case -> (content, style, output name, options that replace or add to OPTS), from (folder, photo, painting)
BAD = {
    "missing content": lambda d, p, s: (d / "nope.jpg", s, "r.png", {}),
    "broken image": lambda d, p, s: (p, d / "broken.png", "r.png", {}),
    "text file as image": lambda d, p, s: (d / "notes.txt", s, "r.png", {}),
    "unknown suffix": lambda d, p, s: (p, s, "r.xyz", {}),
    "no suffix": lambda d, p, s: (p, s, "result", {}),
    "size zero": lambda d, p, s: (p, s, "r.png", {"--size": "0"}),
    "size not a number": lambda d, p, s: (p, s, "r.png", {"--size": "big"}),
    "size too small": lambda d, p, s: (p, s, "r.png", {"--size": "8"}),
    "negative steps": lambda d, p, s: (p, s, "r.png", {"--steps": "-1"}),
    "negative style weight": lambda d, p, s: (p, s, "r.png", {"--style-weight": "-1"}),
    "infinite tv weight": lambda d, p, s: (p, s, "r.png", {"--tv-weight": "inf"}),
    "unknown init": lambda d, p, s: (p, s, "r.png", {"--init": "zeros"}),
    "unknown precision": lambda d, p, s: (p, s, "r.png", {"--precision": "fp8"}),
    "unknown device": lambda d, p, s: (p, s, "r.png", {"--device": "tpu"}),
    "unreadable weights": lambda d, p, s: (p, s, "r.png", {"--weights": str(d / "weights.pth")}),
    "missing weights": lambda d, p, s: (p, s, "r.png", {"--weights": str(d / "none.pth")}),
    "budget with a question mark": lambda d, p, s: (p, s, "r.png", {"--max-memory": "8 GB?"}),
    "budget zero": lambda d, p, s: (p, s, "r.png", {"--max-memory": "0"}),
    "budget negative": lambda d, p, s: (p, s, "r.png", {"--max-memory": "-1"}),
    "budget in words": lambda d, p, s: (p, s, "r.png", {"--max-memory": "lots"}),
    "budget too small": lambda d, p, s: (p, s, "r.png", {"--max-memory": "1MiB"}),
    "tile zero": lambda d, p, s: (p, s, "r.png", {"--tile": "0"}),
    "scales a word": lambda d, p, s: (p, s, "r.png", {"--scales": "some"}),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_cleanly(capsys, images, tmp_path, case):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "weights.pth").write_bytes(b"not a state dict")
    content, style, name, opts = BAD[case](tmp_path, *images)
    options = [x for kv in (OPTS | opts).items() for x in kv]
    code, stdout, err = run(capsys, "transfer", content, style, "-o", tmp_path / name, *options, "-q")
    assert_clean_failure(code, err, tmp_path / name)


def test_output_is_a_folder(capsys, images, tmp_path):
    (tmp_path / "out.png").mkdir()
    code, _, err = run(capsys, "transfer", *images, "-o", tmp_path / "out.png", *RUN)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:") and "folder" in err
    assert not any((tmp_path / "out.png").iterdir())


def test_missing_output_option_and_unknown_command(capsys, images):
    code, _, err = run(capsys, "transfer", *images)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:") and "-o/--output" in err
    code, _, err = run(capsys, "paint")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:")
    code, _, err = run(capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:")


@pytest.mark.unprivileged
def test_output_in_a_read_only_folder(capsys, images, tmp_path):
    ro = tmp_path / "ro"; ro.mkdir(); ro.chmod(0o500)
    try:
        code, _, err = run(capsys, "transfer", *images, "-o", ro / "x.png", *RUN)
        assert_clean_failure(code, err, ro / "x.png")
    finally: ro.chmod(0o700)


def test_interrupt_before_the_run_exits_130_without_output(capsys, images, tmp_path, monkeypatch):
    import stylecourse.transfer as T
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(T, "style_transfer", interrupted)
    code, _, err = run(capsys, "transfer", *images, "-o", tmp_path / "r.png", *RUN)
    assert_clean_failure(code, err, tmp_path / "r.png", expected=130)


def test_unexpected_error_exits_1_and_debug_shows_it(capsys, images, tmp_path, monkeypatch):
    import stylecourse.transfer as T
    def bug(*a, **k): raise ZeroDivisionError("oops")
    monkeypatch.setattr(T, "style_transfer", bug)
    code, _, err = run(capsys, "transfer", *images, "-o", tmp_path / "r.png", *RUN)
    assert_clean_failure(code, err, tmp_path / "r.png", expected=1)
    assert "ZeroDivisionError: oops" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "transfer", *map(str, images), "-o", str(tmp_path / "r.png"), *RUN])


def test_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(c in out for c in ("transfer", "demo", "bench"))
    code, out, _ = run(capsys, "transfer", "--help")
    assert code == 0 and "examples:" in out and "--style-weight" in out and "--precision" in out
    code, out, _ = run(capsys, "demo", "--help")
    assert code == 0 and "-o DIR" in out


def test_every_config_field_has_a_flag(capsys):
    "The transfer flags come from TransferConfig: a field without a flag (but callbacks) fails here."
    from dataclasses import fields
    from stylecourse.transfer import TransferConfig
    code, out, _ = run(capsys, "transfer", "--help")
    assert code == 0
    from stylecourse.cli import FLAG_NAMES
    flag = lambda name: "--" + FLAG_NAMES.get(name, name).replace("_", "-")
    missing = [f.name for f in fields(TransferConfig) if f.name != "callbacks" and flag(f.name) not in out]
    assert missing == [] and "--blend" in out and "--mask" in out
    for choice in ("luminance", "histogram", "meancov", "sliced"): assert choice in out  # lesson 11's, loaded by the command


def test_lesson_11_flags_reach_the_config(monkeypatch, images, tmp_path, capsys):
    import stylecourse.transfer as T
    seen = {}
    def fake(content, style, config=None, **options):
        seen["style"], seen["cfg"] = style, config
        return T.load_image(content, config.size)
    monkeypatch.setattr(T, "style_transfer", fake)
    photo, painting = images
    code, _, err = run(capsys, "transfer", photo, painting, photo, "-o", tmp_path / "r.png", "--size", "64", "--blend", "2", "1",
                       "--colors", "luminance", "--scales", "16", "32", "--steps", "3", "4", "5", "--style-loss", "meancov",
                       "--tileable", "--param", "clamp")
    assert code == 0, err
    cfg = seen["cfg"]
    assert seen["style"] == [str(painting), str(photo)] and cfg.style_blend == (2.0, 1.0) and cfg.colors == "luminance"
    assert cfg.scales == (16, 32) and cfg.steps == (3, 4, 5) and cfg.style_loss == "meancov" and cfg.tileable is True
    assert cfg.param == "clamp"
    code, _, err = run(capsys, "transfer", photo, painting, photo, "-o", tmp_path / "r.png", "--mask", photo, painting, "--steps", "7")
    assert code == 0, err
    assert seen["cfg"].masks == (str(photo), str(painting)) and seen["cfg"].steps == 7


@pytest.mark.parametrize("argv,match", [
    (["--mask", "a.png", "--blend", "1", "1"], "masks and style_blend"), (["--mask", "a.png"], "masks has 1 entries"),
    (["--scales", "64"], "below size"), (["--colors", "sepia"], "invalid choice"), (["--style-loss", "sliced", "--optimizer", "lbfgs-wolfe"], "line search"),
    (["--steps", "1", "2"], "steps has 2 counts")])
def test_lesson_11_bad_combinations_exit_2(capsys, images, tmp_path, argv, match):
    photo, painting = images
    out = tmp_path / "r.png"
    code, _, err = run(capsys, "transfer", photo, painting, photo, "-o", out, "--size", "32", "--weights", "random", "-q", *argv)
    assert_clean_failure(code, err, out)
    assert match in err


@pytest.mark.parametrize("extra", [[], ["--optimizer", "lbfgs", "--steps", "4"], ["--optimizer", "adam", "--steps", "4"]])
def test_sliced_runs_with_the_default_or_a_fitting_optimiser(capsys, images, tmp_path, extra):
    photo, painting = images
    out = tmp_path / "sliced.png"
    code, _, err = run(capsys, "transfer", photo, painting, "-o", out, *RUN, "--style-loss", "sliced", *extra)
    assert code == 0 and out.exists(), err
    assert ("optimizer='lbfgs'" in err) == (not extra), err  # the default's change is said once; a named optimiser is kept quietly


def test_two_styles_run_end_to_end(capsys, images, tmp_path):
    photo, painting = images
    out = tmp_path / "two.png"
    code, stdout, err = run(capsys, "transfer", photo, painting, photo, "-o", out, *RUN, "--blend", "1", "0", "--colors", "histogram")
    assert code == 0, err
    assert out.exists()


def test_flags_reach_the_config(monkeypatch, images, tmp_path, capsys):
    import stylecourse.transfer as T
    seen = {}
    def fake(content, style, config=None, **options):
        seen["cfg"] = config
        return T.load_image(content, config.size)
    monkeypatch.setattr(T, "style_transfer", fake)
    code, _, err = run(capsys, "transfer", *images, "-o", tmp_path / "r.png", "--size", "32", "--style-layers", "relu1_1",
                       "relu2_1:0.5", "--opt-kwargs", "history_size=10", "line_search_fn=strong_wolfe", "--no-progress",
                       "--gram-norm", "chw", "--init", "noise")
    assert code == 0, err
    cfg = seen["cfg"]
    assert cfg.style_layers == {"relu1_1": 1.0, "relu2_1": 0.5} and cfg.gram_norm == "chw" and cfg.init == "noise"
    assert cfg.opt_kwargs == {"history_size": 10, "line_search_fn": "strong_wolfe"} and cfg.progress is False
    assert cfg.content_weight == T.TransferConfig().content_weight  # not given: the config's default


def test_demo_writes_three_images_and_warns_loudly(capsys, tmp_path):
    code, out, err = run(capsys, "demo", "-o", tmp_path / "demo", "--size", "32", "--steps", "2", "-q")
    assert code == 0, err
    for name in ("content", "style", "result"):
        assert (tmp_path / "demo" / f"{name}.png").exists() and str(tmp_path / "demo" / f"{name}.png") in out
    assert "NO PRETRAINED WEIGHTS" in err and "RANDOM" in out


def test_demo_bad_input(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run(capsys, "demo", "-o", tmp_path / "file", "--size", "32", "--steps", "2", "-q")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:")
    code, _, err = run(capsys, "demo", "-o", tmp_path / "d", "--style", "cubism", "--size", "32", "--steps", "2", "-q")
    assert code == 2 and "waves" in err.strip().splitlines()[-1] and not (tmp_path / "d").exists()


def test_bench_is_dispatched_lazily(capsys, monkeypatch):
    got = []
    fake = types.ModuleType("stylecourse.bench"); fake.main = lambda argv, debug=False: got.append(argv) or 0
    monkeypatch.setitem(sys.modules, "stylecourse.bench", fake)
    assert main(["bench", "--size", "64", "--quick"]) == 0 and got == [["--size", "64", "--quick"]]
    monkeypatch.setitem(sys.modules, "stylecourse.bench", None)  # importing it now fails
    code, _, err = run(capsys, "bench")
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: 'stylecourse bench' needs")


def test_console_script_is_installed(images, tmp_path):
    exe = Path(sys.executable).parent / "stylecourse"
    assert exe.exists(), "run `pip install -e .` so the console script exists"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "transfer" in proc.stdout
    proc = subprocess.run([str(exe), "transfer", str(tmp_path / "missing.png"), str(images[1]), "-o", str(tmp_path / "o.png"),
                           "--weights", "random"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error:")
    assert "Traceback" not in proc.stderr and not (tmp_path / "o.png").exists()


def test_too_little_memory_exits_2_with_a_size_that_fits(capsys, images, tmp_path, monkeypatch):
    import stylecourse.memory as M
    monkeypatch.setattr(M, "available_memory", lambda device=None: 2**20)  # 1 MiB free
    out = tmp_path / "r.png"
    code, _, err = run(capsys, "transfer", *images, "-o", out, *RUN)
    assert_clean_failure(code, err, out)
    assert "needs about" in err and "use size=" in err or "no size fits" in err


def test_demo_with_no_evaluations_claims_no_weights(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECOURSE_WEIGHTS", "random")
    code, out, err = run(capsys, "demo", "-o", tmp_path / "d", "--steps", "0", "--size", "32", "-q")
    assert code == 0, err
    assert "no network ran" in out and "pretrained" not in out and "RANDOM" not in out
