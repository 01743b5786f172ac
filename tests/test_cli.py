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


def _subparsers(parser):
    "{name: sub-parser} of a parser built with add_subparsers."
    import argparse
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _command_parsers():
    "(command, its parser, the sources its flags come from) for every command."
    from stylecourse.cli import DemoConfig, build_parser
    from stylecourse.transfer import TransferConfig
    from stylecourse.nca import NCA, train_nca, grow_frames, export_html, build_nca_parser
    from stylecourse.bench import BenchConfig, build_bench_parser
    top, nca = _subparsers(build_parser()), _subparsers(build_nca_parser())
    return [("transfer", top["transfer"], (TransferConfig,)), ("demo", top["demo"], (DemoConfig,)),
            ("nca train", nca["train"], (NCA, train_nca)), ("nca run", nca["run"], (grow_frames, export_html)),
            ("bench", build_bench_parser(), (BenchConfig,))]


def test_every_option_of_every_command_has_a_flag():
    "Each command's parser, as built, has a flag with help for every option of its config or functions (but callbacks)."
    from stylecourse.cli import options_of
    for command, parser, sources in _command_parsers():
        flags = {a.dest: a for a in parser._actions if a.option_strings}
        for source in sources:
            for name in options_of(source):
                if name == "callbacks": continue
                assert name in flags, f"{command}: {source.__qualname__}.{name} has no flag"
                assert flags[name].help and len(flags[name].help) > 12, f"{command}: --{name} has no help"
    for choice in ("luminance", "histogram", "meancov", "sliced"):  # lesson 11's registrations, loaded by the command
        assert choice in _command_parsers()[0][1].format_help()


def test_flags_refuse_what_they_cannot_read():
    "add_flags fails loudly for an option type a terminal cannot give, and for two defaults of one option."
    import argparse
    from dataclasses import dataclass
    from stylecourse.cli import add_flags, given
    @dataclass
    class Odd:
        table: dict[str, int] | None = None  # a mapping: no flag can type it
    with pytest.raises(TypeError, match="table"): add_flags(argparse.ArgumentParser(), Odd)
    def f(size: int = 64): "one"
    def g(size: int = 128): "two"
    with pytest.raises(TypeError, match="one default"): add_flags(argparse.ArgumentParser(), f, g)
    @dataclass
    class Fine:
        size: int = 64  # a side in pixels
        names: tuple[str, ...] = ("a",)  # some names
        quiet: bool = False  # say less
    p = argparse.ArgumentParser()
    add_flags(p, Fine)
    assert given(p.parse_args([]), Fine) == {}  # left out: the config's own default applies
    assert given(p.parse_args(["--size", "9", "--names", "x", "y", "--quiet"]), Fine) == dict(size=9, names=("x", "y"), quiet=True)


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
    assert "needs about" in err and ("use size=" in err or "no size fits" in err)


def test_demo_with_no_evaluations_claims_no_weights(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECOURSE_WEIGHTS", "random")
    code, out, err = run(capsys, "demo", "-o", tmp_path / "d", "--steps", "0", "--size", "32", "-q")
    assert code == 0, err
    assert "no network ran" in out and "pretrained" not in out and "RANDOM" not in out


# Tiny stand-ins for the values the help examples use: every example must run, just smaller.
TINY_VALUES = {"--size": ["32"], "--sizes": ["32"], "--scales": ["24", "28"], "--max-memory": ["1GiB"]}
TINY_BIG = {"--size": ["96x64"]}
TINY_TAIL = {"transfer": ["--steps", "2", "--size", "32", "-q"], "demo": ["--steps", "2", "--size", "32", "-q"], "bench": ["--steps", "2"],
             "nca train": ["--iterations", "2", "--size", "24", "--pool-size", "4", "--steps", "2", "3", "-q"]}


def _examples(parser) -> list:
    "The command lines in a parser's `examples:` epilog, without comments, as word lists after 'stylecourse'."
    import shlex
    lines = (parser.epilog or "").split("examples:")[-1].splitlines()
    return [shlex.split(l.split("#")[0])[1:] for l in lines if l.strip().startswith("stylecourse ")]


def _tiny(words, files):
    "An example's words with its files made real and its sizes made tiny (a word such as 'auto' is kept)."
    table, out, i = TINY_BIG if "--big" in words else TINY_VALUES, [], 0
    while i < len(words):
        w, n = words[i], 1
        while w in table and i + n < len(words) and not words[i + n].startswith("-"): n += 1  # a flag's values
        if w in table and words[i + 1].replace("x", "").isdigit(): out += [w, *table[w][: max(1, n - 1)]]
        else: out += [files(x) if Path(x).suffix in (".jpg", ".png", ".pt", ".gif", ".html") else x for x in words[i:i + n]]
        i += n
    return out


def test_every_help_example_runs(tmp_path, capsys, monkeypatch):
    "Each example printed by `--help` (transfer, demo, nca train and run, bench) runs at tiny sizes and exits 0."
    from stylecourse.cli import build_parser
    from stylecourse.nca import build_nca_parser
    from stylecourse.bench import build_bench_parser
    rng = np.random.default_rng(0)
    def files(name):
        p = tmp_path / Path(name).name
        if p.suffix in (".jpg", ".png") and p.stem in ("photo", "painting", "a", "b", "sky", "land") and not p.exists():
            Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(p)
        return str(p)
    monkeypatch.chdir(tmp_path)
    top, nca = _subparsers(build_parser()), _subparsers(build_nca_parser())
    runs = [["transfer", *w[1:]] for w in _examples(top["transfer"])] + [["demo", *w[1:]] for w in _examples(top["demo"])]
    runs += [["nca", *w[1:]] for w in _examples(nca["train"])] + [["bench", *w[1:]] for w in _examples(build_bench_parser())]
    assert len(runs) >= 20 and any(w[:2] == ["nca", "run"] for w in runs), runs
    for words in runs:
        argv = _tiny(words, files)
        command = " ".join(argv[:2]) if argv[0] == "nca" else argv[0]
        argv += TINY_TAIL.get(command, [])
        if command == "demo": argv += ["-o", str(tmp_path / "demo")]
        if command == "bench" and "--big" not in argv and "--scales" not in argv: argv.append("--quick")
        if command == "nca run" and argv[argv.index("-o") + 1].endswith(".gif"): argv += ["--steps", "8"]
        code, out, err = run(capsys, *argv)
        assert code == 0, (words, argv, err[-2000:])
