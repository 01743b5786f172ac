"stylecourse.images with inputs a hostile but realistic user tries: odd paths, pipes, unusual tensors and arrays, deep TIFFs."
import os, subprocess, sys, threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylecourse.images as images
import stylecourse.sources as sources
from stylecourse.images import ImageLoadError, load_image, save_image


def err(fn, exc=ImageLoadError):
    "Run `fn`, expect `exc`, and return its message, checked to be one line"
    with pytest.raises(exc) as info: fn()
    msg = str(info.value)
    assert msg and "\n" not in msg and len(msg) < 1000, f"not one short line: {msg!r}"
    return msg


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECOURSE_CACHE", str(tmp_path / "cache"))
    def no_network(*a, **k): raise AssertionError("test tried to use the network")
    monkeypatch.setattr(sources, "urlopen", no_network)


@pytest.fixture
def png(tmp_path):
    p = tmp_path / "red.png"
    Image.new("RGB", (12, 8), (255, 0, 0)).save(p)
    return p


# ---------------------------------------------------------------- bad paths

def test_name_longer_than_255_bytes(tmp_path):
    long = tmp_path / ("x" * 300 + ".png")
    msg = err(lambda: load_image(long))
    assert "longer than the file system allows" in msg and "shorten" in msg and "xxxx" in msg
    msg = err(lambda: save_image(torch.rand(3, 4, 4), long), ValueError)
    assert "longer than the file system allows" in msg and not list(tmp_path.iterdir())


def test_save_name_of_255_bytes_works(tmp_path):
    p = tmp_path / ("y" * 251 + ".png")                                 # legal, though its temp file name could not be
    assert load_image(save_image(torch.zeros(3, 4, 4), p)).shape == (3, 4, 4)


def test_unknown_user_in_tilde():
    msg = err(lambda: load_image("~nosuchuser_stylecourse/x.png"))
    assert "'~nosuchuser_stylecourse/x.png'" in msg and "no user 'nosuchuser_stylecourse'" in msg and "full path" in msg
    assert "no user" in err(lambda: save_image(torch.zeros(3, 4, 4), "~nosuchuser_stylecourse/x.png"), ValueError)


def test_tilde_of_a_real_home_still_expands(tmp_path, monkeypatch, png):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_image("~/red.png").shape == (3, 8, 12)


def test_cache_variable_pointing_at_a_file(tmp_path, monkeypatch, png):
    monkeypatch.setenv("STYLECOURSE_CACHE", str(png))
    msg = err(lambda: load_image("https://example.org/cat.png"))
    assert "STYLECOURSE_CACHE" in msg and str(png) in msg and "not a folder" in msg
    monkeypatch.setenv("STYLECOURSE_CACHE", str(png / "sub"))            # below a file: the folder cannot be made
    msg = err(lambda: load_image("https://example.org/cat.png"))
    assert "download folder" in msg and "STYLECOURSE_CACHE" in msg and "internet" not in msg


def test_a_file_used_as_a_folder(png):
    msg = err(lambda: load_image(png / "inner.png"))
    assert "not a directory" in msg and "check the path" in msg


# ---------------------------------------------------------------- streams: FIFOs, /dev/stdin, process substitution

def _feed_fifo(path, data):
    t = threading.Thread(target=lambda: Path(path).write_bytes(data), daemon=True); t.start(); return t


@pytest.fixture(params=["polled", "one read"])
def reader(request, monkeypatch):
    "Both ways a stream is read: polled (Linux, pipes on macOS) and in one blocking read (Windows, devices on macOS)"
    if request.param == "one read": monkeypatch.setattr(sources, "_pollable", lambda path: False)
    return request.param


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_fifo_is_read_as_a_stream(tmp_path, png, reader):
    fifo = tmp_path / "pipe.png"; os.mkfifo(fifo)
    writer = _feed_fifo(fifo, png.read_bytes())
    assert torch.equal(load_image(fifo), load_image(png)); writer.join(5)
    writer = _feed_fifo(fifo, png.read_bytes())
    assert load_image(fifo, size=6).shape == (3, 4, 6); writer.join(5)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_empty_and_garbage_streams_say_what_happened(tmp_path, reader):
    fifo = tmp_path / "pipe"; os.mkfifo(fifo)
    writer = _feed_fifo(fifo, b"")
    msg = err(lambda: load_image(fifo)); writer.join(5)
    assert "nothing came out of it" in msg and "empty (0 bytes)" not in msg
    writer = _feed_fifo(fifo, b"hello, this is text and not a picture\n" * 3)
    assert "text file" in err(lambda: load_image(fifo)); writer.join(5)


def test_character_devices(monkeypatch, reader):
    if not Path("/dev/null").exists() or not Path("/dev/zero").exists(): pytest.skip("no /dev/null or /dev/zero")
    assert "nothing came out of it" in err(lambda: load_image("/dev/null"))
    monkeypatch.setattr(sources, "_STREAM_LIMIT", 1 << 16)              # /dev/zero never ends: the limit stops it
    assert "save the image to a file" in err(lambda: load_image("/dev/zero"))


STDIN_SCRIPT = "import sys; from stylecourse.images import load_image; print(tuple(load_image(sys.argv[1]).shape))"


@pytest.mark.skipif(not Path("/dev/stdin").exists(), reason="needs /dev/stdin")
def test_dev_stdin_and_process_substitution(png):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with open(png, "rb") as f:                                          # a pipe on stdin, as `cat red.png | ...`
        res = subprocess.run([sys.executable, "-c", STDIN_SCRIPT, "/dev/stdin"], input=f.read(), capture_output=True, env=env)
    assert res.returncode == 0 and res.stdout.strip() == b"(3, 8, 12)", res.stderr[-500:]
    bash = "/bin/bash"
    if not Path(bash).exists(): pytest.skip("no bash for <(...)")
    res = subprocess.run([bash, "-c", f'"{sys.executable}" -c "{STDIN_SCRIPT}" <(cat "{png}")'], capture_output=True, env=env)
    assert res.returncode == 0 and res.stdout.strip() == b"(3, 8, 12)", res.stderr[-500:]


# ---------------------------------------------------------------- tensors and arrays

def test_meta_and_sparse_tensors():
    for t, needle in ((torch.empty(3, 8, 8, device="meta"), "meta tensor"), (torch.empty(1, 3, 8, 8, device="meta"), "meta tensor"),
                      (torch.rand(3, 8, 8).to_sparse(), "sparse_coo tensor"), (torch.rand(8, 8).to_sparse_csr(), "sparse_csr tensor")):
        msg = err(lambda: load_image(t))
        assert needle in msg and len(msg) < 200


def test_big_endian_arrays():
    a = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 1000)
    assert torch.equal(load_image(a.astype(">u2")), load_image(a))
    f = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    assert torch.equal(load_image(f.astype(">f4")), load_image(f))


def test_numpy_integer_sizes():
    assert load_image(torch.rand(3, 40, 20), size=np.int64(10)).shape == (3, 10, 5)
    assert load_image(torch.rand(3, 40, 20), size=np.uint8(8)).shape == (3, 8, 4)


# ---------------------------------------------------------------- messages that do not mislead

def test_empty_string_is_not_a_folder():
    msg = err(lambda: load_image(""))
    assert "path is empty" in msg and "folder" not in msg


@pytest.mark.parametrize("url", ["https://example.org/my photo.jpg", "https://example.org/a.png\n", "http://example.org/\tx.png"])
def test_url_with_space_is_not_a_network_problem(url):
    msg = err(lambda: load_image(url))
    assert "internet" not in msg and "spaces or control characters" in msg and repr(url) in msg


def test_malformed_url_is_not_a_network_problem(monkeypatch):
    import http.client
    def invalid(*a, **k): raise http.client.InvalidURL("nonnumeric port: 'x'")
    monkeypatch.setattr(sources, "urlopen", invalid)
    msg = err(lambda: load_image("https://example.org:x/a.png"))
    assert "not a valid URL" in msg and "internet" not in msg


# ---------------------------------------------------------------- deep TIFFs

def test_signed_32bit_tiff_is_scaled_by_its_range(tmp_path):
    ramp = np.tile(np.linspace(0, 2**31 - 1, 200).astype(np.int32), (10, 1))
    Image.fromarray(ramp).save(tmp_path / "r.tif")
    r = load_image(tmp_path / "r.tif")[0, 0]
    assert torch.allclose(r, torch.linspace(0, 1, 200), atol=1e-6)
    assert (r > 0.99).float().mean() < 0.05                               # not "94 % white"


def test_unsigned_32bit_tiff_is_scaled_by_its_range(tmp_path):
    vals = np.array([[0, 2**31, 2**32 - 1]], np.uint32)
    Image.fromarray(vals.view(np.int32)).save(tmp_path / "u.tif")          # Pillow writes SampleFormat 2 (signed)...
    data = (tmp_path / "u.tif").read_bytes()
    signed = b"\x53\x01\x03\x00\x01\x00\x00\x00\x02\x00"                  # tag 339, SHORT, count 1, value 2
    assert data.count(signed) == 1
    (tmp_path / "u.tif").write_bytes(data.replace(signed, signed[:-2] + b"\x01\x00"))   # ...so mark it unsigned
    with Image.open(tmp_path / "u.tif") as im: assert images._depth(im) == (32, False)
    r = load_image(tmp_path / "u.tif")[0, 0]
    assert torch.allclose(r, torch.tensor([0.0, 0.5, 1.0]), atol=1e-6)


def test_16bit_files_keep_their_scale(tmp_path):
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "a.png")
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "a.tif")
    for f in ("a.png", "a.tif"): assert abs(load_image(tmp_path / f)[0, 0, 0].item() - 40000 / 65535) < 1e-6


def test_negative_integers_refused(tmp_path):
    Image.fromarray(np.full((4, 4), -5, np.int32)).save(tmp_path / "neg.tif")
    msg = err(lambda: load_image(tmp_path / "neg.tif"))
    assert "neg.tif" in msg and "outside the 32-bit range" in msg


def test_float_tiff_out_of_range_is_refused_like_an_array(tmp_path):
    wide = np.linspace(-1, 2, 50, dtype=np.float32).reshape(5, 10)
    Image.fromarray(wide).save(tmp_path / "wide.tif")
    from_file, from_array = err(lambda: load_image(tmp_path / "wide.tif")), err(lambda: load_image(wide))
    assert "wide.tif" in from_file and from_file.split(": ", 1)[1] == from_array.split(": ", 1)[1]
    nan = np.full((4, 4), np.nan, np.float32); Image.fromarray(nan).save(tmp_path / "nan.tif")
    assert "NaN" in err(lambda: load_image(tmp_path / "nan.tif"))


def test_float_tiff_resized_stays_in_range(tmp_path):
    edge = np.zeros((64, 64), np.float32); edge[:, 32:] = 1                # a sharp edge: Lanczos overshoots it
    Image.fromarray(edge).save(tmp_path / "edge.tif")
    t = load_image(tmp_path / "edge.tif", size=20)
    assert t.min() >= 0 and t.max() <= 1 and t[0, 0, 0] < 0.05 and t[0, 0, -1] > 0.95


# ---------------------------------------------------------------- sources feeds images, never the reverse

def test_sources_import_one_way_and_share_one_error():
    import ast, inspect
    imported = {n.module for n in ast.walk(ast.parse(inspect.getsource(sources))) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.endswith(("images", "samples")) for m in imported), "sources must not import images or samples"
    star = {}; exec("from stylecourse.images import *", star)
    from stylecourse.all import ImageLoadError as from_all
    assert star["ImageLoadError"] is from_all is images.ImageLoadError is sources.ImageLoadError is ImageLoadError
