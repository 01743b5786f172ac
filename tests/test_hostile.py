"""A hostile but realistic user: fourteen inputs that once lost work or misled, each tried end to end.

Nothing lost, nothing misleading: every refusal exits 2 with a last stderr line `error: …` and no traceback, leaves the
inputs and any existing OUT byte-identical and no temporary file behind; Ctrl-C exits 130 and keeps the best image in
OUT's sibling `NAME.interrupted.SUFFIX`. Each CLI case runs every variant in-process through `main()` (fast), and one
representative variant of it through the installed `stylecourse` console script (`test_console_script`, `test_sigint`).
"""
import concurrent.futures, hashlib, importlib.util, math, os, re, signal, subprocess, sys, threading, time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import stylecourse
import stylecourse.sources as sources
import stylecourse.transfer as T
from stylecourse.cli import main
from stylecourse.images import ImageLoadError, load_image
from stylecourse.transfer import TransferConfig, style_transfer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # random-weights warnings of the API tests

EXE = Path(sys.executable).parent / "stylecourse"
ROOT = Path(stylecourse.__file__).resolve().parent.parent  # the console script must import this checkout
FAST = ["--size", "32", "--steps", "2", "-q"]
API = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), weights="random", progress=False, size=32)
NOBODY = "~nosuchuser_stylecourse"
POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/fd").is_dir(), reason="needs POSIX pipes and /dev/fd")


# ------------------------------------------------------------------------------------------------ the user's folder

def make_folder(d: Path) -> SimpleNamespace:
    "A photo (40×30), a painting (30×50), a finished result `out.png` the user wants to keep, and a few odd files."
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(d / "c.png")
    Image.fromarray(rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)).save(d / "s.png")
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(d / "out.png")
    (d / "out.xbm").write_bytes(b"an older file the user keeps")
    Image.fromarray(np.linspace(-1, 2, 600, dtype=np.float32).reshape(20, 30)).save(d / "wide.tif")  # floats in [-1, 2]
    (d / "wts").mkdir()
    (d / "cachefile").write_text("STYLECOURSE_CACHE points here by mistake")
    (d / "link.png").symlink_to(d / "c.png")                              # a symlink to the photo is the photo
    return SimpleNamespace(d=d, c=d / "c.png", s=d / "s.png", out=d / "out.png")


@pytest.fixture
def f(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECOURSE_CACHE", str(tmp_path / "cache"))
    def no_network(*a, **k): raise AssertionError("a test tried to use the network")
    monkeypatch.setattr(sources, "urlopen", no_network)
    return make_folder(tmp_path / "work")


def snapshot(d: Path) -> dict:
    "Every entry under `d`, hidden ones too: files by content hash, anything else (folders, pipes) by its kind."
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_symlink(): out[str(p.relative_to(d))] = "link"
        elif p.is_file() and not p.is_fifo(): out[str(p.relative_to(d))] = hashlib.sha256(p.read_bytes()).hexdigest()
        else: out[str(p.relative_to(d))] = "dir" if p.is_dir() else "other"
    return out


def left_over(d: Path) -> list:
    "Temporary files a writer may leave: hidden `.name.xxxx.tmp`, `.part`, or anything with tmp in a hidden name."
    return [p.name for p in d.rglob(".*") if p.suffix in (".tmp", ".part") or "tmp" in p.name]


def cli(capsys, *argv):
    "`stylecourse ARGV` in-process: (exit code, stdout, stderr)."
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def exe(*argv, env=None, stdin=None, timeout=300):
    "`stylecourse ARGV` through the installed console script: (exit code, stdout, stderr)."
    assert EXE.exists(), "run `pip install -e .` so the console script exists"
    env = {**os.environ, "STYLECOURSE_WEIGHTS": "random",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]), **(env or {})}
    proc = subprocess.run([str(EXE), *map(str, argv)], capture_output=True, timeout=timeout, env=env, input=stdin)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def last_line(err: str) -> str:
    lines = err.strip().splitlines()
    return lines[-1] if lines else ""


def check(code, err, d: Path, before: dict, expected=2, new=(), says=(), never=()):
    "The common promise: exit code, last line, no traceback, nothing changed under `d` but `new`, no temporary file."
    assert code == expected, err
    line = last_line(err)
    if expected == 0: assert not line.startswith("error:"), err
    else: assert line.startswith("interrupted" if expected == 130 else "error:"), err
    assert "Traceback" not in err, err
    after = snapshot(d)
    assert {k: v for k, v in after.items() if k not in new} == before, "an input or an existing file changed"
    assert all(k in after for k in new), f"expected new files {new}, got {sorted(after)}"
    assert left_over(d) == [], f"temporary files left: {left_over(d)}"
    for s in says: assert s in line, f"{s!r} not in {line!r}"
    for s in never: assert s not in err, f"{s!r} in {err!r}"
    return line


def image_size(p: Path) -> tuple:
    with Image.open(p) as im:
        im.load()
        return im.size


# ------------------------------------------------------------------------------------------------ the 14 cases
# Each bad CLI variant: (case, name, argv from the folder, environment, expected code, words the last line must hold).
# `test_no_cli_path_exits_1` feeds them all (and test_cli.py's BAD table) to the CLI once more.

BAD_CLI = [
    (2, "out is the content", lambda f: ["transfer", f.c, f.s, "-o", f.c, *FAST], {}, 2, ("input",)),
    (2, "out is the style", lambda f: ["transfer", f.c, f.s, "-o", f.s, *FAST], {}, 2, ("input",)),
    (2, "out spelt another way", lambda f: ["transfer", f.c, f.s, "-o", f.d / "wts" / ".." / "c.png", *FAST], {}, 2, ("input",)),
    (2, "out is a symlink to the content", lambda f: ["transfer", f.c, f.s, "-o", f.d / "link.png", *FAST], {}, 2,
     ("input",)),
    (2, "out is the init image", lambda f: ["transfer", f.c, f.s, "-o", f.out, "--init", f.out, *FAST], {}, 2, ("input",)),
    *[(3, f"suffix {suf}", lambda f, suf=suf: ["transfer", f.c, f.s, "-o", f.d / f"out{suf}", *FAST], {}, 2, (f"out{suf}",))
      for suf in (".xbm", ".msp", ".palm", ".h5", ".wmf", ".blp", ".pfm")],
    (4, "size 1e9", lambda f: ["transfer", f.c, f.s, "-o", f.out, "--size", "1000000000", "--steps", "2", "-q"], {}, 2,
     ("needs about", "size=")),
    (4, "size 20000", lambda f: ["transfer", f.c, f.s, "-o", f.out, "--size", "20000", "--steps", "2", "-q"], {}, 2,
     ("needs about", "size=")),
    (5, "content name over 255 bytes", lambda f: ["transfer", f.d / ("x" * 300 + ".png"), f.s, "-o", f.d / "r.png", *FAST], {}, 2,
     ("255",)),
    (5, "out name over 255 bytes", lambda f: ["transfer", f.c, f.s, "-o", f.d / ("x" * 300 + ".png"), *FAST], {}, 2, ("255",)),
    (5, "weights name over 255 bytes", lambda f: ["transfer", f.c, f.s, "-o", f.d / "r.png", "--weights",
                                                  f.d / ("x" * 300 + ".pth"), *FAST], {}, 2, ()),
    (5, "content of an unknown user", lambda f: ["transfer", f"{NOBODY}/c.png", f.s, "-o", f.d / "r.png", *FAST], {}, 2,
     (NOBODY,)),
    (5, "out of an unknown user", lambda f: ["transfer", f.c, f.s, "-o", f"{NOBODY}/r.png", *FAST], {}, 2, (NOBODY,)),
    (5, "cache is a file", lambda f: ["transfer", "https://example.org/c.png", f.s, "-o", f.d / "r.png", *FAST],
     {"STYLECOURSE_CACHE": "{d}/cachefile"}, 2, ("STYLECOURSE_CACHE", "not a folder")),
    (7, "style weight 1e308", lambda f: ["transfer", f.c, f.s, "-o", f.out, "--style-weight", "1e308", *FAST], {}, 2,
     ("not finite",)),
    (7, "NaN weights file", lambda f: ["transfer", f.c, f.s, "-o", f.out, "--weights", f.d / "nan.pth", *FAST], {}, 2,
     ("not finite",)),
    (8, "seed 2**64", lambda f: ["transfer", f.d / "missing.png", f.s, "-o", f.out, "--seed", str(2**64), *FAST], {}, 2,
     ("seed",)),
    (8, "seed 2**63", lambda f: ["transfer", f.c, f.s, "-o", f.out, "--seed", str(2**63), *FAST], {}, 2, ("seed",)),
    (8, "seed -1", lambda f: ["transfer", f.c, f.s, "-o", f.out, "--seed", "-1", *FAST], {}, 2, ("seed",)),
    (12, "empty content", lambda f: ["transfer", "", f.s, "-o", f.d / "r.png", *FAST], {}, 2, ("empty",)),
    (12, "url with a space", lambda f: ["transfer", "https://example.org/my photo.png", f.s, "-o", f.d / "r.png", *FAST], {},
     2, ("space",)),
    (13, "float tiff in [-1, 2]", lambda f: ["transfer", f.c, f.d / "wide.tif", "-o", f.d / "r.png", *FAST], {}, 2,
     ("wide.tif", "[0, 1]")),
    (14, "bench size 100000", lambda f: ["bench", "--sizes", "100000"], {}, 2, ("--sizes 100000",)),
]
NEVER = ("unexpected", "please report", "check the path and free space", "internet", "is a folder")


def nan_weights(path: Path):
    "A VGG19 state dict of NaNs (each tensor one NaN broadcast to its shape, so the file is ~10 KB)."
    from stylecourse.vgg import _conv_shapes
    torch.save({k: torch.full((1,), math.nan).expand(shape) for k, shape in _conv_shapes().items()}, path)


def run_bad(capsys, monkeypatch, f, case: int):
    "Every variant of `case` in-process; returns {name: last line}."
    lines = {}
    for num, name, argv, env, code, says in BAD_CLI:
        if num != case: continue
        if name == "NaN weights file" and not (f.d / "nan.pth").exists(): nan_weights(f.d / "nan.pth")
        before = snapshot(f.d)
        with monkeypatch.context() as m:
            for k, v in env.items(): m.setenv(k, v.format(d=f.d))
            c, _, err = cli(capsys, *argv(f))
        lines[name] = check(c, err, f.d, before, code, says=says, never=NEVER)
    assert lines, f"no variants of case {case}"
    return lines


def arm_interrupt(monkeypatch, at_step=3):
    "Make the run press Ctrl-C itself (a real SIGINT to this process) after `at_step` evaluations."
    real = T.style_transfer
    def interrupted_at(step, image, losses):
        if step == at_step: os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(T, "style_transfer", lambda c, s, cfg: real(c, s, cfg, callbacks=(interrupted_at,)))


def test_01_ctrl_c_keeps_out_and_the_best_image(capsys, monkeypatch, f):
    arm_interrupt(monkeypatch)
    before = snapshot(f.d)
    code, out, err = cli(capsys, "transfer", f.c, f.s, "-o", f.out, "--size", "32", "--steps", "50", "-q")
    line = check(code, err, f.d, before, 130, new=("out.interrupted.png",))
    assert "out.interrupted.png" in line and "wrote" not in out
    assert image_size(f.d / "out.interrupted.png") == (32, 24)


def test_02_output_naming_an_input_is_refused(capsys, monkeypatch, f):
    run_bad(capsys, monkeypatch, f, 2)
    monkeypatch.chdir(f.d)                                              # a relative spelling of the same file
    before = snapshot(f.d)
    code, _, err = cli(capsys, "transfer", "c.png", f.s, "-o", "./c.png", *FAST)
    check(code, err, f.d, before, says=("input",))


def test_03_unwritable_suffixes_fail_before_the_run(capsys, monkeypatch, f):
    ran = []
    monkeypatch.setattr(T, "style_transfer", lambda *a, **k: ran.append(a))
    lines = run_bad(capsys, monkeypatch, f, 3)
    assert ran == [], "the run started although the output format cannot be written"
    assert "8-bit" in lines["suffix .pfm"]


def test_04_huge_size_is_refused_before_any_image_is_decoded(capsys, monkeypatch, f):
    def no_decoding(*a, **k): raise AssertionError("an image was decoded before the memory estimate")
    monkeypatch.setattr(T, "load_image", no_decoding)
    lines = run_bad(capsys, monkeypatch, f, 4)
    assert "size=1000000000" in lines["size 1e9"] and "size=20000" in lines["size 20000"]


def test_05_bad_paths_exit_2(capsys, monkeypatch, f):
    lines = run_bad(capsys, monkeypatch, f, 5)
    assert "cachefile" in lines["cache is a file"]


def test_05_weights_of_an_unknown_user_exit_2(capsys, f):
    before = snapshot(f.d)
    code, _, err = cli(capsys, "transfer", f.c, f.s, "-o", f.d / "r.png", "--weights", f"{NOBODY}/w.pth", *FAST)
    check(code, err, f.d, before, says=(NOBODY,), never=NEVER)


def feed(path, data: bytes):
    "Write `data` to the pipe `path` once, as `cat photo.png > pipe` would, from a thread."
    t = threading.Thread(target=lambda: Path(path).write_bytes(data), daemon=True)
    t.start()
    return t


def unblock_later(fifo: Path, writer: threading.Thread, done: threading.Event):
    "If the reader opens the FIFO again after the one write, give it end-of-file instead of hanging the suite."
    def watch():
        writer.join()
        while not done.wait(0.5):
            try: os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError: pass
    threading.Thread(target=watch, daemon=True).start()


@POSIX
def test_06_pipes_are_read_as_streams(capsys, f):
    fifo = f.d / "pipe.png"; os.mkfifo(fifo)
    before, done = snapshot(f.d), threading.Event()
    unblock_later(fifo, feed(fifo, f.c.read_bytes()), done)
    try: code, _, err = cli(capsys, "transfer", fifo, f.s, "-o", f.d / "r.png", *FAST)  # a named pipe
    finally: done.set()
    check(code, err, f.d, before, 0, new=("r.png",), never=("empty (0 bytes)",))
    assert image_size(f.d / "r.png") == (32, 24)
    r, w = os.pipe()                                                      # `<(cat c.png)`: /dev/fd/N
    os.write(w, f.c.read_bytes()); os.close(w)                            # a PNG this small fits in the pipe's buffer
    before = snapshot(f.d)
    try: code, _, err = cli(capsys, "transfer", f"/dev/fd/{r}", f.s, "-o", f.d / "r2.png", *FAST)
    finally: os.close(r)
    check(code, err, f.d, before, 0, new=("r2.png",), never=("empty (0 bytes)",))
    assert image_size(f.d / "r2.png") == (32, 24)


@POSIX
def test_06_an_empty_pipe_says_so(capsys, f):
    r, w = os.pipe(); os.close(w)                                         # `<(true)`: nothing comes out
    before = snapshot(f.d)
    try: code, _, err = cli(capsys, "transfer", f"/dev/fd/{r}", f.s, "-o", f.d / "r.png", *FAST)
    finally: os.close(r)
    check(code, err, f.d, before, says=("nothing came out",), never=("empty (0 bytes)",))


def test_07_a_loss_that_is_never_finite_exits_2_and_zero_weights_warn(capsys, monkeypatch, f):
    run_bad(capsys, monkeypatch, f, 7)
    before = snapshot(f.d)
    code, _, err = cli(capsys, "transfer", f.c, f.s, "-o", f.d / "r.png", "--content-weight", "0", "--style-weight", "0", *FAST)
    check(code, err, f.d, before, 0, new=("r.png",))
    assert any(l.startswith("warning:") and "all 0" in l for l in err.splitlines()), err


def test_08_seed_out_of_range_is_named_before_images_load(capsys, monkeypatch, f):
    lines = run_bad(capsys, monkeypatch, f, 8)
    assert "missing.png" not in lines["seed 2**64"] and "Overflow" not in lines["seed 2**64"]
    with pytest.raises(ValueError, match="seed"): TransferConfig(seed=2**64)
    assert TransferConfig(seed=2**63 - 1).seed == 2**63 - 1


def test_09_init_accepts_a_path_string(capsys, monkeypatch, f):
    monkeypatch.chdir(f.d)
    a = style_transfer(f.c, f.s, steps=0, init="out.png", **API)            # a bare file name, as the user typed it
    b = style_transfer(f.c, f.s, steps=0, init=Path("out.png"), **API)
    assert torch.equal(a, b) and a.shape == (3, 24, 32)
    before = snapshot(f.d)
    code, _, err = cli(capsys, "transfer", "c.png", "s.png", "-o", "r.png", "--init", "out.png", *FAST)
    check(code, err, f.d, before, 0, new=("r.png",))


def test_10_callbacks_get_a_snapshot(f):
    frames = []
    def vandal(step, image, losses):
        frames.append(image)
        image.zero_()                                                       # editing the copy cannot change the run
    a = style_transfer(f.c, f.s, steps=4, init="noise", callbacks=[vandal], **API)
    b = style_transfer(f.c, f.s, steps=4, init="noise", **API)
    assert torch.equal(a, b) and len(frames) == 4
    assert len({fr.data_ptr() for fr in frames}) == 4                       # each frame its own tensor


def one_line_error(fn, exc=ValueError) -> str:
    with pytest.raises(exc) as info: fn()
    msg = str(info.value)
    assert msg and "\n" not in msg and len(msg) < 300, msg
    return msg


def test_11_api_bad_arguments_are_one_line_value_errors(f):
    assert "callbacks" in one_line_error(lambda: style_transfer(f.c, f.s, callbacks=42, **API))
    assert "callbacks" in one_line_error(lambda: TransferConfig(callbacks=[print, 42]))
    for t, kind in ((torch.empty(3, 8, 8, device="meta"), "meta"), (torch.rand(3, 8, 8).to_sparse(), "sparse")):
        assert kind in one_line_error(lambda: load_image(t), ImageLoadError)
        assert kind in one_line_error(lambda: style_transfer(t, f.s, steps=1, **API), ImageLoadError)
    a = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 1000)
    assert torch.equal(load_image(a.astype(">u2")), load_image(a))         # big-endian, as TIFFs store them
    assert style_transfer(f.c, f.s, steps=0, **(API | dict(size=np.int64(32)))).shape == (3, 24, 32)
    assert TransferConfig(size=np.int64(32), steps=np.int32(2), seed=np.uint64(3)).seed == 3


def test_12_messages_do_not_mislead(capsys, monkeypatch, f):
    lines = run_bad(capsys, monkeypatch, f, 12)
    assert "folder" not in lines["empty content"] and "internet" not in lines["url with a space"]


def test_12_weights_folder_is_called_a_folder(capsys, monkeypatch, f):
    monkeypatch.chdir(f.d)
    before = snapshot(f.d)
    code, _, err = cli(capsys, "transfer", f.c, f.s, "-o", f.d / "r.png", "--weights", "wts/", *FAST)
    line = check(code, err, f.d, before)
    assert "folder" in line and "not found" not in line


def test_13_tiffs_scaled_by_their_range_and_floats_checked(capsys, monkeypatch, f):
    ramp = np.tile(np.linspace(0, 2**31 - 1, 40).astype(np.int32), (30, 1))  # a 32-bit integer TIFF
    Image.fromarray(ramp).save(f.d / "ramp.tif")
    r = load_image(f.d / "ramp.tif")[0]
    assert torch.allclose(r[0], torch.linspace(0, 1, 40), atol=1e-6) and (r > 0.99).float().mean() < 0.05
    wide = np.linspace(-1, 2, 600, dtype=np.float32).reshape(20, 30)
    from_file = one_line_error(lambda: load_image(f.d / "wide.tif"), ImageLoadError)
    assert from_file.split(": ", 1)[1] == one_line_error(lambda: load_image(wide), ImageLoadError).split(": ", 1)[1]
    run_bad(capsys, monkeypatch, f, 13)
    before = snapshot(f.d)
    code, _, err = cli(capsys, "transfer", f.d / "ramp.tif", f.s, "-o", f.d / "r.png", *FAST)
    check(code, err, f.d, before, 0, new=("r.png",))


def test_14_bench_with_a_huge_size_exits_2(capsys, monkeypatch, f):
    lines = run_bad(capsys, monkeypatch, f, 14)
    assert "use size=" in lines["bench size 100000"] or "no size fits" in lines["bench size 100000"]


# ------------------------------------------------------------------------------------------------ console script

# One variant of each CLI case through the installed `stylecourse`: (case, argv from the folder, env, stdin file,
# expected code, words of the last line, files it may create). Case 1 is `test_sigint`.
CONSOLE = {
    2: (lambda f: ["transfer", f.c, f.s, "-o", f.c, *FAST], {}, None, 2, ("input",), ()),
    3: (lambda f: ["transfer", f.c, f.s, "-o", f.d / "out.xbm", *FAST], {}, None, 2, ("out.xbm",), ()),
    4: (lambda f: ["transfer", f.c, f.s, "-o", f.out, "--size", "1000000000", "-q"], {}, None, 2, ("needs about",), ()),
    5: (lambda f: ["transfer", f.c, f.s, "-o", f.d / ("x" * 300 + ".png"), *FAST], {}, None, 2, ("255",), ()),
    6: (lambda f: ["transfer", "/dev/stdin", f.s, "-o", f.d / "r.png", *FAST], {}, "c.png", 0, (), ("r.png",)),
    7: (lambda f: ["transfer", f.c, f.s, "-o", f.out, "--style-weight", "1e308", *FAST], {}, None, 2, ("not finite",), ()),
    8: (lambda f: ["transfer", f.c, f.s, "-o", f.out, "--seed", str(2**64), *FAST], {}, None, 2, ("seed",), ()),
    12: (lambda f: ["transfer", "", f.s, "-o", f.d / "r.png", *FAST], {}, None, 2, ("empty",), ()),
    13: (lambda f: ["transfer", f.d / "wide.tif", f.s, "-o", f.d / "r.png", *FAST], {}, None, 2, ("[0, 1]",), ()),
    14: (lambda f: ["bench", "--sizes", "100000"], {}, None, 2, ("--sizes 100000",), ()),
}
XFAIL_CONSOLE = {}  # console cases known to fail, with the reason


@pytest.fixture(scope="module")
def console_runs(tmp_path_factory):
    "Run every CONSOLE case once, two at a time (each start imports torch): {case: (folder, before, code, out, err)}."
    if not EXE.exists(): pytest.fail("run `pip install -e .` so the console script exists")
    def one(case):
        argv, env, stdin, *_ = CONSOLE[case]
        f = make_folder(tmp_path_factory.mktemp(f"case{case}"))
        env = {"STYLECOURSE_CACHE": str(f.d.parent / "cache"), **env}
        data = (f.d / stdin).read_bytes() if stdin else b""
        before = snapshot(f.d)
        code, out, err = exe(*argv(f), env=env, stdin=data)                 # stdin: a pipe, as `cat c.png | stylecourse …`
        return case, (f, before, code, out, err)
    with concurrent.futures.ThreadPoolExecutor(2) as pool: return dict(pool.map(one, CONSOLE))


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=XFAIL_CONSOLE[c]))
                                  if c in XFAIL_CONSOLE else c for c in CONSOLE])
def test_console_script(console_runs, case):
    *_, expected, says, new = CONSOLE[case]
    f, before, code, out, err = console_runs[case]
    check(code, err, f.d, before, expected, new=new, says=says, never=NEVER)
    for name in new: assert image_size(f.d / name) == (32, 24)


def test_sigint(tmp_path):
    "A real Ctrl-C mid-run: exit 130, OUT byte-identical, the best image so far in out.interrupted.png."
    f = make_folder(tmp_path / "work")
    before = snapshot(f.d)
    env = {**os.environ, "STYLECOURSE_WEIGHTS": "random", "STYLECOURSE_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([str(EXE), "transfer", str(f.c), str(f.s), "-o", str(f.out), "--size", "64", "--steps", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    err = bytearray()
    reader = threading.Thread(target=lambda: [err.extend(c) for c in iter(lambda: proc.stderr.read1(4096), b"")], daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any(int(n) >= 5 for n in re.findall(rb"(\d+)/100000", bytes(err))):  # optimising: evaluations counted
            assert proc.poll() is None, f"the run ended before the signal: {bytes(err).decode(errors='replace')[-2000:]}"
            assert time.monotonic() < deadline, "no progress within 240 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(120)
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    reader.join(10)
    stdout, text = proc.stdout.read().decode(), bytes(err).decode(errors="replace")
    line = check(code, text, f.d, before, 130, new=("out.interrupted.png",))
    assert "out.interrupted.png" in line and "wrote" not in stdout
    assert image_size(f.d / "out.interrupted.png") == (64, 48)


# ------------------------------------------------------------------------------------------------ no exit 1 on user input

def bad_table_of_test_cli():
    "test_cli.py's table of bad input, read from its file (tests/ is not a package)."
    spec = importlib.util.spec_from_file_location("_stylecourse_test_cli", Path(__file__).with_name("test_cli.py"))
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod.BAD, mod.OPTS


def test_no_cli_path_exits_1(capsys, monkeypatch, f):
    "Every bad CLI case in tests/ (this file's and test_cli.py's BAD table): exit 0, 2 or 130, never 1, no traceback."
    nan_weights(f.d / "nan.pth")
    (f.d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    (f.d / "notes.txt").write_text("hello")
    (f.d / "weights.pth").write_bytes(b"not a state dict")
    bad, opts = bad_table_of_test_cli()
    argvs = [(name, argv(f), env) for _, name, argv, env, *_ in BAD_CLI]
    argvs += [("weights of an unknown user", ["transfer", f.c, f.s, "-o", f.d / "r.png", "--weights", f"{NOBODY}/w.pth", *FAST], {}),
              ("weights folder", ["transfer", f.c, f.s, "-o", f.d / "r.png", "--weights", f.d / "wts", *FAST], {})]
    for name, case in bad.items():
        content, style, out, more = case(f.d, f.c, f.s)
        argvs.append((f"test_cli {name}", ["transfer", content, style, "-o", f.d / out,
                                           *[x for kv in (opts | more).items() for x in kv], "-q"], {}))
    codes = {}
    for name, argv, env in argvs:
        with monkeypatch.context() as m:
            for k, v in env.items(): m.setenv(k, v.format(d=f.d))
            code, _, err = cli(capsys, *argv)
        codes[name] = (code, "Traceback" in err, last_line(err))
    wrong = {k: v for k, v in codes.items() if v[0] not in (0, 2, 130) or v[1]}
    assert wrong == {}, wrong
    assert len(codes) >= len(BAD_CLI) + len(bad)
