"stylecourse.images: every odd or broken image case, with files generated in tmp_path (no network, no downloaded data)."
import io, os, socket, stat, warnings
from email.message import Message
from urllib.error import HTTPError, URLError

import numpy as np
import pytest
import torch
from PIL import Image, JpegImagePlugin

import stylecourse.sources as sources
from stylecourse.images import ImageLoadError, default_device, in_test, load_image, save_image, show_image, show_images


def err(fn, exc=ImageLoadError):
    "Run `fn`, expect `exc`, and return its message, checked to be a single line"
    with pytest.raises(exc) as info: fn()
    msg = str(info.value)
    assert msg and "\n" not in msg, f"message is not one line: {msg!r}"
    return msg


def check(t, shape=None):
    "The output contract: [3,H,W] float32 in [0,1], contiguous"
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.dim() == 3 and t.shape[0] == 3
    assert t.is_contiguous() and 0 <= t.min() and t.max() <= 1
    if shape is not None: assert tuple(t.shape) == shape
    return t


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    "Never touch the network or the user's cache: downloads go to tmp_path, urlopen fails loudly unless a test replaces it"
    monkeypatch.setenv("STYLECOURSE_CACHE", str(tmp_path / "cache"))
    def no_network(*a, **k): raise AssertionError("test tried to use the network")
    monkeypatch.setattr(sources, "urlopen", no_network)


# ---------------------------------------------------------------- modes

def save(img, path, **kw):
    img.save(path, **kw)
    return path


@pytest.mark.parametrize("mode,make,fmt,expected", [
    ("L", lambda: Image.new("L", (20, 10), 128), "png", [128 / 255] * 3),
    ("1", lambda: Image.new("1", (20, 10), 1), "png", [1.0] * 3),
    ("P", lambda: Image.new("RGB", (20, 10), (255, 0, 0)).convert("P"), "gif", [1.0, 0.0, 0.0]),
    ("RGB", lambda: Image.new("RGB", (20, 10), (0, 255, 0)), "png", [0.0, 1.0, 0.0]),
    ("RGBA", lambda: Image.new("RGBA", (20, 10), (0, 0, 255, 0)), "png", [1.0, 1.0, 1.0]),      # transparent -> white
    ("RGBA-half", lambda: Image.new("RGBA", (20, 10), (0, 0, 255, 51)), "png", [0.8, 0.8, 1.0]),  # 20 % blue on white
    ("LA", lambda: Image.new("LA", (20, 10), (0, 0)), "png", [1.0] * 3),
    ("CMYK", lambda: Image.new("CMYK", (20, 10), (0, 255, 255, 0)), "tif", [1.0, 0.0, 0.0]),
    ("CMYK-jpeg", lambda: Image.new("CMYK", (20, 10), (0, 255, 255, 0)), "jpg", [1.0, 0.0, 0.0]),
    ("YCbCr", lambda: Image.new("RGB", (20, 10), (0, 0, 255)).convert("YCbCr"), "jpg", [0.0, 0.0, 1.0]),
    ("I;16", lambda: Image.fromarray(np.full((10, 20), 32768, np.uint16)), "png", [32768 / 65535] * 3),
    ("I", lambda: Image.fromarray(np.full((10, 20), 2**30, np.int32)), "tif", [2**30 / (2**31 - 1)] * 3),  # signed 32-bit
    ("F", lambda: Image.fromarray(np.full((10, 20), 0.25, np.float32)), "tif", [0.25] * 3),
    ("F-slack", lambda: Image.fromarray(np.full((10, 20), 1.005, np.float32)), "tif", [1.0] * 3),  # rounding noise: clamped
])
def test_modes(tmp_path, mode, make, fmt, expected):
    p = save(make(), tmp_path / f"img.{fmt}")
    t = check(load_image(p), (3, 10, 20))
    tol = 0.02 if fmt == "jpg" else 1e-4
    assert torch.allclose(t[:, 5, 10], torch.tensor(expected), atol=tol), t[:, 5, 10]
    check(load_image(Image.open(p)), (3, 10, 20))   # the same through a PIL image


def test_palette_with_transparency_is_white(tmp_path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(1, (0, 0, 4, 8))
    p = save(img, tmp_path / "t.png", transparency=0)      # index 0 (red) is transparent
    t = check(load_image(p))
    assert t[:, 0, 7].tolist() == [1.0, 1.0, 1.0] and t[:, 0, 0].tolist() == [0.0, 1.0, 0.0]


def test_16bit_gradient_does_not_turn_white(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 300).astype(np.uint16), (20, 1))
    p = save(Image.fromarray(ramp), tmp_path / "ramp16.png")
    assert Image.open(p).mode.startswith("I")
    row = check(load_image(p))[0, 10]
    assert torch.allclose(row, torch.from_numpy(ramp[0] / 65535).float(), atol=1e-6)      # v / 65535 exactly
    small = check(load_image(p, size=100))[0, 3]
    assert small[0] < 0.02 and small[-1] > 0.98 and 0.45 < small.mean() < 0.55 and (small.diff() > 0).all()


def test_16bit_tiff_and_numpy_agree(tmp_path):
    a = (np.random.default_rng(0).random((12, 16)) * 65535).astype(np.uint16)
    p = save(Image.fromarray(a), tmp_path / "g16.tif")
    assert torch.allclose(load_image(p), load_image(a), atol=1e-6)


# ---------------------------------------------------------------- EXIF, animation

def asymmetric(w=10, h=6):
    return Image.fromarray(np.arange(w * h * 3, dtype=np.uint8).reshape(h, w, 3) * 2)




def test_exif_rotated_jpeg_with_resize(tmp_path):
    upright = Image.new("RGB", (40, 80), (255, 0, 0)); upright.paste((0, 0, 255), (0, 0, 40, 20))   # blue on top
    exif = Image.Exif(); exif[0x0112] = 6                                                      # stored sideways
    p = save(upright.transpose(Image.Transpose.ROTATE_90), tmp_path / "phone.jpg", exif=exif, quality=95)
    t = check(load_image(p, size=40), (3, 40, 20))
    assert t[2, 2, 10] > 0.9 and t[0, 35, 10] > 0.9          # blue at the top, red at the bottom


@pytest.mark.parametrize("fmt", ["gif", "webp", "png"])
def test_animated_first_frame(tmp_path, fmt):
    frames = [Image.new("RGB", (16, 12), c) for c in ("red", "lime", "blue")]
    kw = dict(lossless=True) if fmt == "webp" else {}
    p = save(frames[0], tmp_path / f"anim.{fmt}", save_all=True, append_images=frames[1:], duration=100, **kw)
    assert Image.open(p).n_frames == 3
    assert torch.allclose(check(load_image(p))[:, 6, 8], torch.tensor([1.0, 0, 0]), atol=0.02)


# ---------------------------------------------------------------- tensors and arrays

def test_tensor_inputs():
    x = torch.rand(3, 20, 30)
    y = check(load_image(x))
    assert torch.equal(y, x) and y.data_ptr() != x.data_ptr()
    y.zero_(); assert x.abs().sum() > 0                         # the result never aliases the input
    assert torch.equal(load_image(x[None]), x)
    assert torch.equal(load_image(x.double()), x)
    u8 = (x * 255).round().to(torch.uint8)
    assert (load_image(u8) - x).abs().max() <= 0.5 / 255 + 1e-6
    gray = torch.rand(20, 30)
    for g in (gray, gray[None], gray[None, None]):
        t = check(load_image(g), (3, 20, 30)); assert torch.equal(t[0], gray) and torch.equal(t[2], gray)
    assert load_image(torch.ones(3, 4, 4, dtype=torch.bool)).min() == 1
    rgba = torch.zeros(4, 2, 2); rgba[0] = 1                     # red with alpha 0 -> white
    assert load_image(rgba).min() == 1
    slightly_over = x.clone(); slightly_over[0, 0, 0] = 1.004   # rounding noise is clamped
    assert load_image(slightly_over).max() == 1


def test_tensor_result_is_detached():
    x = torch.rand(3, 8, 8, requires_grad=True)
    assert not load_image(x).requires_grad


@pytest.mark.parametrize("bad,needle", [
    (torch.rand(3, 8, 8) * 255, "divide 0-255 values by 255"),
    (torch.rand(3, 8, 8) * 2 - 1, "normalisation"),
    (torch.full((3, 8, 8), float("nan")), "NaN"),
    (torch.rand(2, 3, 8, 8), "batch of 2"),
    (torch.rand(8, 8, 3), "permute(2, 0, 1)"),
    (torch.rand(5, 8, 8), "not [3,H,W]"),
    (torch.rand(3, 0, 8), "no pixels"),
    (torch.zeros(3, 8, 8, dtype=torch.int32), "dtype torch.int32"),
])
def test_tensor_errors(bad, needle):
    assert needle in err(lambda: load_image(bad))


def test_numpy_inputs():
    rng = np.random.default_rng(0)
    hwc = (rng.random((10, 14, 3)) * 255).astype(np.uint8)
    t = check(load_image(hwc), (3, 10, 14))
    assert torch.equal(t, torch.from_numpy(hwc).permute(2, 0, 1).float() / 255)
    assert torch.equal(load_image(hwc.transpose(2, 0, 1)), t)                    # CHW array
    assert torch.equal(load_image(hwc[..., 0])[1], t[0])                          # HW gray
    assert torch.equal(load_image(hwc[..., :1])[2], t[0])                         # HxWx1
    assert torch.allclose(load_image(hwc.astype(np.float64) / 255), t)            # float64
    assert torch.allclose(load_image((hwc.astype(np.uint16) * 257)), t, atol=1e-6)  # uint16 scaled by 65535
    rgba = np.zeros((4, 4, 4), np.uint8); rgba[..., 2] = 255                      # blue, alpha 0
    assert load_image(rgba).min() == 1
    assert "dtype int64" in err(lambda: load_image(np.zeros((4, 4), np.int64)))
    assert "not an image" in err(lambda: load_image(np.zeros((5, 5, 2), np.uint8)))
    assert "not an image" in err(lambda: load_image(np.zeros((2, 5, 5, 3), np.uint8)))
    assert "divide 0-255" in err(lambda: load_image(hwc.astype(np.float32)))


# ---------------------------------------------------------------- size

@pytest.mark.parametrize("w,h,size,expected", [(600, 400, 300, (3, 200, 300)), (400, 600, 300, (3, 300, 200)),
                                                (30, 20, 90, (3, 60, 90)), (1000, 7, 100, (3, 1, 100))])
def test_size_is_longest_side_and_keeps_aspect(tmp_path, w, h, size, expected):
    img = Image.new("RGB", (w, h), (10, 200, 30))
    p = save(img, tmp_path / "a.png")
    for src in (p, img, np.array(img), torch.from_numpy(np.array(img)).permute(2, 0, 1)):
        t = check(load_image(src, size=size), expected)
        assert torch.allclose(t.mean((1, 2)), torch.tensor([10, 200, 30]) / 255, atol=0.01)


@pytest.mark.parametrize("bad", [0, -1, 2.5, 256.0, "256", True, [256]])
def test_bad_size(tmp_path, bad):
    msg = err(lambda: load_image(torch.rand(3, 8, 8), size=bad), ValueError)
    assert "size (the longest side in pixels) must be a whole number" in msg


def test_downscaling_is_antialiased(tmp_path):
    yy, xx = np.mgrid[0:256, 0:256]
    checker = ((xx + yy) % 2 * 255).astype(np.uint8)                # the finest possible pattern
    p = save(Image.fromarray(checker), tmp_path / "checker.png")
    for src in (p, checker, torch.from_numpy(checker)):
        t = load_image(src, size=32)
        assert abs(t.mean().item() - 0.5) < 0.01 and t.std() < 0.02, "aliased: the checkerboard survived"


# ---------------------------------------------------------------- huge images and bombs

def test_12000px_jpeg_loads_downscaled_via_draft(tmp_path, monkeypatch):
    p = tmp_path / "huge.jpg"
    Image.new("L", (12000, 12000), 90).save(p, quality=50)
    drafts = []
    real_draft = JpegImagePlugin.JpegImageFile.draft
    def spy(self, mode, size):
        drafts.append(size); return real_draft(self, mode, size)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                   # no DecompressionBombWarning
        t = check(load_image(p, size=256), (3, 256, 256))
    assert drafts == [(512, 512)], "the JPEG was not decoded at reduced size"
    assert abs(t.mean().item() - 90 / 255) < 0.01


def test_12000px_png_loads(tmp_path):
    p = tmp_path / "huge.png"
    Image.new("L", (12000, 12000), 200).save(p, compress_level=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = check(load_image(p, size=128), (3, 128, 128))
    assert abs(t.mean().item() - 200 / 255) < 0.01


def test_decompression_bomb(tmp_path, monkeypatch):
    p = save(Image.new("RGB", (100, 100), "red"), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)                # error limit 8000 < 10000 pixels
    msg = err(lambda: load_image(p))
    assert "decompression bomb" in msg and "bomb.png" in msg and "MAX_IMAGE_PIXELS" in msg
    assert "decompression bomb" in err(lambda: load_image(p, size=10))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)                # warning limit < 10000 < error limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check(load_image(p), (3, 100, 100))
    with pytest.warns(Image.DecompressionBombWarning):                 # our silencing did not leak out
        with Image.open(p): pass


# ---------------------------------------------------------------- broken files

def png_bytes(size=(64, 48)):
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(1).random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes():
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name,content,needle", [
    ("empty.png", b"", "empty"),
    ("cut.png", lambda: png_bytes()[: len(png_bytes()) // 2], "truncated"),
    ("cut.jpg", lambda: jpeg_bytes()[: len(jpeg_bytes()) // 2], "truncated"),
    ("head.png", lambda: png_bytes()[:30], "truncated or corrupt"),
    ("garbled.png", lambda: (lambda b: b[:100] + bytes(x ^ 0x5A for x in b[100:600]) + b[600:])(png_bytes()), "corrupt"),
    ("notes.txt", b"this is not a picture\nat all\n", "text file"),
    ("notes.png", "gr\u00fc\u00dfe, not a picture\n".encode(), "text file"),
    ("logo.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>', "SVG"),
    ("bare.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>', "SVG"),
    ("page.jpg", b"<!DOCTYPE html>\n<html><head><title>Login</title></head></html>", "HTML"),
    ("doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
    ("IMG_1234.HEIC", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200), "HEIC"),
    ("clip.mp4", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(200), "video"),
    ("photo.jxl", b"\xff\x0a" + bytes(100), "JPEG XL"),
    ("blob.bin", b"RAW\x00" + np.random.default_rng(0).bytes(2000), "unsupported format"),
])
def test_broken_files(tmp_path, name, content, needle):
    p = tmp_path / name
    p.write_bytes(content() if callable(content) else content)
    msg = err(lambda: load_image(p))
    assert name in msg and needle in msg, msg
    assert "; " in msg                                                   # ...what is wrong; what to do


def test_missing_file_and_folder(tmp_path, monkeypatch):
    msg = err(lambda: load_image(tmp_path / "nope.png"))
    assert "nope.png" in msg and "no such file" in msg
    monkeypatch.chdir(tmp_path)
    assert str(tmp_path) in err(lambda: load_image("nope.png"))        # relative: says where it looked
    (tmp_path / "pics").mkdir()
    msg = err(lambda: load_image(tmp_path / "pics"))
    assert "pics" in msg and "folder" in msg


@pytest.mark.unprivileged
def test_unreadable_file(tmp_path):
    p = tmp_path / "secret.png"; p.write_bytes(png_bytes()); p.chmod(0)
    assert "permission denied" in err(lambda: load_image(p))


@pytest.mark.parametrize("src", [None, 42, [[0, 1]], {"path": "a.png"}, b"\x89PNG"])
def test_unsupported_source_types(src):
    msg = err(lambda: load_image(src))
    assert type(src).__name__ in msg and "pass a path" in msg


def test_unsupported_url_scheme():
    assert "only http(s)" in err(lambda: load_image("ftp://example.com/a.png"))


def test_broken_pil_image():
    buf = io.BytesIO(png_bytes()); data = buf.getvalue()
    img = Image.open(io.BytesIO(data[: len(data) // 2]))                # opens lazily, fails on load
    assert "truncated" in err(lambda: load_image(img))


# ---------------------------------------------------------------- URLs (network always mocked)

class FakeResponse(io.BytesIO):
    def __init__(self, data, content_type="image/png"):
        super().__init__(data)
        self.headers = Message(); self.headers["Content-Type"] = content_type


def test_url_offline_error(tmp_path, monkeypatch):
    def offline(*a, **k): raise URLError(socket.gaierror(-2, "Name or service not known"))
    monkeypatch.setattr(sources, "urlopen", offline)
    url = "https://example.com/pics/cat.png"
    msg = err(lambda: load_image(url))
    assert url in msg and "download failed" in msg and "internet" in msg
    assert not any((tmp_path / "cache").glob("*")), "a failed download left a file in the cache"


def test_url_timeout_and_http_error(monkeypatch):
    def slow(*a, **k): raise TimeoutError("timed out")
    monkeypatch.setattr(sources, "urlopen", slow)
    assert "timed out" in err(lambda: load_image("https://example.com/slow.png"))
    def missing(url, **k): raise HTTPError(url.full_url, 404, "Not Found", Message(), None)
    monkeypatch.setattr(sources, "urlopen", missing)
    assert "HTTP 404" in err(lambda: load_image("https://example.com/gone.png"))


def test_url_download_is_cached(tmp_path, monkeypatch):
    data, calls = png_bytes(), []
    def fake(req, timeout):
        calls.append((req.full_url, timeout)); assert timeout <= 30
        return FakeResponse(data)
    monkeypatch.setattr(sources, "urlopen", fake)
    url = "https://example.com/a%20cat.png?x=1"
    t = check(load_image(url, size=32), (3, 24, 32))
    assert len(calls) == 1
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1 and cached[0].read_bytes() == data and not cached[0].name.startswith(".")
    monkeypatch.setattr(sources, "urlopen", lambda *a, **k: pytest.fail("downloaded twice"))
    assert torch.equal(load_image(url, size=32), t)


def test_url_html_and_corrupt_downloads_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "urlopen", lambda *a, **k: FakeResponse(b"<html></html>", "text/html"))
    assert "HTML" in err(lambda: load_image("https://example.com/page"))
    monkeypatch.setattr(sources, "urlopen", lambda *a, **k: FakeResponse(png_bytes()[:200]))
    msg = err(lambda: load_image("https://example.com/broken.png"))
    assert "https://example.com/broken.png" in msg and "truncated" in msg
    assert not any(p.is_file() for p in (tmp_path / "cache").iterdir())


# ---------------------------------------------------------------- saving

def test_save_roundtrip_formats(tmp_path):
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 5), size=(20, 30), mode="bilinear")[0]  # smooth: fair to JPEG
    for suffix, tol in ((".png", 0.5 / 255 + 1e-6), (".PNG", 0.5 / 255 + 1e-6), (".bmp", 0.5 / 255 + 1e-6),
                        (".tif", 0.5 / 255 + 1e-6), (".jpg", 0.25), (".webp", 0.25)):
        p = save_image(x, tmp_path / f"out{suffix}")
        assert p == tmp_path / f"out{suffix}"
        y = check(load_image(p), (3, 20, 30))
        assert (y - x).abs().max() <= tol and (y - x).abs().mean() < 0.03, suffix
    assert Image.open(tmp_path / "out.jpg").format == "JPEG" and Image.open(tmp_path / "out.webp").format == "WEBP"
    save_image(x[None], tmp_path / "batch.png"); save_image(x[:1], tmp_path / "gray.png")
    assert Image.open(tmp_path / "gray.png").mode == "L"
    save_image((x * 255).to(torch.uint8), tmp_path / "u8.png")


def test_save_is_atomic_when_the_encoder_fails(tmp_path, monkeypatch):
    p = save_image(torch.zeros(3, 8, 8), tmp_path / "keep.png")
    before = p.read_bytes()
    def failing_encoder(im, fp, filename):
        fp.write(b"\x89PNG half written"); raise OSError("disk full")
    monkeypatch.setitem(Image.SAVE, "PNG", failing_encoder)
    with pytest.raises(OSError, match="disk full"): save_image(torch.ones(3, 8, 8), p)
    with pytest.raises(OSError, match="disk full"): save_image(torch.ones(3, 8, 8), tmp_path / "new.png")
    assert p.read_bytes() == before
    assert sorted(q.name for q in tmp_path.iterdir()) == ["keep.png"]    # no temp file, no half-written new file


def test_save_is_atomic_on_interrupt(tmp_path, monkeypatch):
    def interrupted(im, fp, filename): fp.write(b"partial"); raise KeyboardInterrupt
    monkeypatch.setitem(Image.SAVE, "PNG", interrupted)
    with pytest.raises(KeyboardInterrupt): save_image(torch.ones(3, 8, 8), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_save_honours_umask(tmp_path):
    old = os.umask(0o022); os.umask(old)
    p = save_image(torch.rand(3, 4, 4), tmp_path / "m.png")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~old


def test_save_errors(tmp_path):
    x = torch.rand(3, 8, 8)
    for name in ("out.xyz", "out"):
        msg = err(lambda: save_image(x, tmp_path / name), ValueError)
        assert "unknown image suffix" in msg and name in msg
    assert "does not exist" in err(lambda: save_image(x, tmp_path / "nowhere" / "a.png"), FileNotFoundError)
    bad_nan = x.clone(); bad_nan[0, 0, 0] = float("nan")
    assert "NaN" in err(lambda: save_image(bad_nan, tmp_path / "nan.png"), ValueError)
    assert "shape" in err(lambda: save_image(torch.rand(2, 3, 8, 8), tmp_path / "b.png"), ValueError)
    assert "tensor" in err(lambda: save_image(np.zeros((8, 8, 3)), tmp_path / "n.png"), TypeError)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- showing, samples, styles, devices

def test_show_image_and_images():
    import matplotlib.pyplot as plt
    ax = show_image(torch.rand(3, 10, 20), title="hi")
    assert ax.get_title() == "hi"
    plt.close("all")
    fig = show_images(torch.rand(5, 3, 8, 8), titles=list("abcde"), ncols=2)
    assert len(fig.axes) == 6 and [a.get_title() for a in fig.axes[:5]] == list("abcde")
    plt.close(fig)
    fig = show_images([torch.rand(1, 3, 8, 8), torch.rand(8, 8), np.zeros((8, 8, 3), np.uint8)])
    assert len(fig.axes) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="titles"): show_images([torch.rand(3, 4, 4)], titles=["a", "b"])
    with pytest.raises(ValueError, match="at least one"): show_images([])


def test_default_device_and_in_test(monkeypatch):
    "CUDA first, then MPS, then the CPU, whatever this machine has."
    for cuda, mps, want in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        assert default_device() == torch.device(want)
    monkeypatch.undo()
    monkeypatch.setenv("IN_TEST", "1"); assert in_test() is True
    monkeypatch.delenv("IN_TEST"); assert in_test() is False


def test_background_decides_what_transparent_pixels_show(tmp_path):
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[:, :3] = 255                                   # left half: opaque white; right half: transparent
    path = tmp_path / "mask.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert load_image(path).min() == 1.0                # on white (the default): all white
    grey = load_image(path, background=0).mean(0)       # as a mask: transparent counts as 0
    assert grey[:, :3].min() == 1.0 and grey[:, 3:].max() == 0.0
    t = torch.from_numpy(rgba).permute(2, 0, 1)
    assert torch.equal(load_image(t, background=0).mean(0), grey)
    for bad in (-0.5, 2, "white", True, float("nan")):
        with pytest.raises(ValueError, match="background must be"): load_image(path, background=bad)
