"stylecourse.samples: the content photograph, the generated style images and the paintings' offline fallback (never the network)."
import socket, warnings

import numpy as np
import pytest
import torch
from PIL import Image

import stylecourse.images as images
import stylecourse.sources as sources
import stylecourse.samples as samples
_real_reachable = samples._reachable  # before the autouse fixture replaces it
from stylecourse.samples import PAINTINGS, STYLE_NAMES, painting, sample_image, style_image
from test_images import _isolated, check  # the output contract, and no network or user cache


@pytest.fixture(autouse=True)
def _no_probe(monkeypatch):
    "The connection probe never runs unless a test replaces it (downloads are already refused by test_images' fixture)"
    monkeypatch.setattr(samples, "_reachable", lambda *a, **k: False)


def test_sample_image():
    check(sample_image(), (3, 600, 512))
    check(sample_image(100), (3, 100, 85))


@pytest.mark.parametrize("bad", [0, -1, 2.5, 256.0, "256", True, [256]])
def test_style_image_bad_size(bad):
    with pytest.raises(ValueError, match="must be a whole number"): style_image("waves", size=bad)


def test_numpy_integer_sizes():
    check(style_image("dots", np.int64(24)), (3, 24, 24)); check(sample_image(np.int32(60)), (3, 60, 51))


def test_style_images():
    assert len(STYLE_NAMES) >= 3 and isinstance(STYLE_NAMES, tuple)
    ims = {n: check(style_image(n, 48), (3, 48, 48)) for n in STYLE_NAMES}
    for n, t in ims.items():
        assert torch.equal(t, style_image(n, 48)), f"{n} is not deterministic"
        assert not torch.equal(t, style_image(n, 48, seed=1)), f"{n} ignores the seed"
        assert t.std(0).mean() > 0.05, f"{n} is not colourful"
    names = list(ims)
    for i in range(len(names)):
        for j in range(i):
            assert (ims[names[i]] - ims[names[j]]).abs().mean() > 0.1, (names[i], names[j])
    with pytest.raises(ValueError, match="unknown style"): style_image("cubism")


def test_painting_offline_falls_back_with_warning(monkeypatch):
    monkeypatch.delenv("IN_TEST", raising=False)
    with pytest.warns(UserWarning, match="cannot be reached.*'swirls'"):
        t = painting("starry_night", size=48)
    check(t, (3, 48, 48))
    assert torch.equal(t, style_image("swirls", 48))
    monkeypatch.setenv("IN_TEST", "1")
    monkeypatch.setattr(samples, "_reachable", lambda *a, **k: pytest.fail("probed the network under IN_TEST"))
    with pytest.warns(UserWarning, match="offline"):
        check(painting("great_wave", size=32), (3, 32, 32))


def test_painting_uses_cache_without_network(monkeypatch):
    url = PAINTINGS["great_wave"]["url"]
    path = sources._cache_path(url); path.parent.mkdir(parents=True)
    Image.new("RGB", (80, 40), (0, 0, 255)).save(path, "JPEG")
    monkeypatch.setattr(samples, "_reachable", lambda *a, **k: pytest.fail("probed the network"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = check(painting("great_wave", size=40), (3, 20, 40))
    assert t[2].mean() > 0.9
    with pytest.raises(ValueError, match="choose one of"): painting("mona_lisa")


def test_reachable_is_quick_and_local_only():
    probe = _real_reachable
    server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
    port = server.getsockname()[1]
    try: assert probe(f"http://127.0.0.1:{port}/x.png", timeout=1.0)
    finally: server.close()
    assert not probe(f"http://127.0.0.1:{port}/x.png", timeout=1.0)




def test_samples_modules_import_one_way():
    import ast, inspect
    tree = ast.parse(inspect.getsource(images))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.endswith("samples") for m in imported), "images must not import samples"
    from stylecourse.all import sample_image as s, style_image as t, painting as p, STYLE_NAMES as n, load_image as l
    assert (s, t, p, n) == (sample_image, style_image, painting, STYLE_NAMES) and l is images.load_image
