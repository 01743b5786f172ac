"""stylecourse.vgg: what lesson 03 cannot test well -- torchvision parity, every weights file format and error, and
weights resolution without the network (the layer table, its helpers and the network's shape are tested in the lesson)."""
import threading, urllib.error, warnings

import pytest
import torch
from torchvision.models import vgg as tv_vgg

from stylecourse import vgg as V
from stylecourse.vgg import VGG19_LAYERS, RandomWeightsWarning, WeightsError, load_vgg19


def quiet_load(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return load_vgg19(*args, **kw)


@pytest.fixture(scope="module")
def vgg():
    return quiet_load("random", device="cpu")


@pytest.fixture(scope="module")
def x():
    return torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))  # not square


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    "No cached weights, no network: any attempt to download fails the test."
    monkeypatch.setattr(V, "imagenet_cache_path", lambda: tmp_path / "hub" / "vgg19-dcbb9e9d.pth")
    def refuse(*a, **kw): raise AssertionError("a test tried to download VGG19 weights")
    monkeypatch.setattr(V, "_download", refuse)
    monkeypatch.setattr(V, "_online", lambda *a, **kw: False)
    monkeypatch.delenv("STYLECOURSE_WEIGHTS", raising=False)
    monkeypatch.delenv("IN_TEST", raising=False)


def features_sd(model):
    "Our model's weights with torchvision's keys: features.N.weight / features.N.bias."
    return {f"features.{VGG19_LAYERS.index(k.split('.')[0])}.{k.split('.')[1]}": v.clone() for k, v in model.state_dict().items()}


def error_line(fn, *args, **kw):
    with pytest.raises(WeightsError) as e: fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg, "weights errors are one line"
    return msg


# --- the network --------------------------------------------------------------------------------------------------

def test_same_as_torchvision_architecture(vgg, x):
    "Our weights in torchvision's own VGG19 feature stack give the same outputs."
    tv = tv_vgg.make_layers(tv_vgg.cfgs["E"]).eval()
    tv.load_state_dict({k.removeprefix("features."): v for k, v in features_sd(vgg).items()})
    with torch.no_grad(): assert torch.equal(tv(x), vgg(x))


def test_default_device():
    from stylecourse.images import default_device
    assert next(quiet_load("random", last_layer="conv1_1").parameters()).device.type == default_device().type


def test_url_is_torchvisions():
    from torchvision.models import VGG19_Weights
    assert V.VGG19_URL == VGG19_Weights.IMAGENET1K_V1.url


# --- weights from a file ------------------------------------------------------------------------------------------

def test_full_torchvision_format(vgg, x, tmp_path):
    sd = features_sd(vgg)
    sd.update({"classifier.0.weight": torch.zeros(8, 8), "classifier.6.bias": torch.zeros(1000)})  # ignored
    path = tmp_path / "vgg19-full.pth"
    torch.save(sd, path)
    for weights in (path, str(path)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RandomWeightsWarning)   # a file is not random weights: no warning
            loaded = load_vgg19(weights, device="cpu")
        assert loaded.weights_source == str(path)
        with torch.no_grad(): assert torch.equal(loaded(x), vgg(x))


def test_env_variable_path(vgg, x, tmp_path, monkeypatch):
    path = tmp_path / "env.pth"
    torch.save(features_sd(vgg), path)
    monkeypatch.setenv("STYLECOURSE_WEIGHTS", str(path))
    with torch.no_grad(): assert torch.equal(load_vgg19(device="cpu")(x), vgg(x))


def test_imagenet_from_cache(vgg, x, tmp_path, monkeypatch, no_network):
    cache = tmp_path / "hub" / "vgg19-dcbb9e9d.pth"
    cache.parent.mkdir()
    torch.save(features_sd(vgg), cache)
    for weights in ("imagenet", "auto"):
        loaded = load_vgg19(weights, device="cpu")
        assert loaded.weights_source == "imagenet"
        with torch.no_grad(): assert torch.equal(loaded(x), vgg(x))


# --- every weights error ------------------------------------------------------------------------------------------

def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(b"PK\x03\x04 this is no zip archive")
    msg = error_line(load_vgg19, str(path))
    assert "cannot read weights file" in msg and "corrupt.pth" in msg


def test_not_a_state_dict(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pth")
    assert "holds a list, not a state dict" in error_line(load_vgg19, tmp_path / "list.pth")


def test_wrong_keys_vgg16(tmp_path):
    torch.save(tv_vgg.make_layers(tv_vgg.cfgs["D"]).state_dict(), tmp_path / "vgg16.pth")
    msg = error_line(load_vgg19, tmp_path / "vgg16.pth")
    assert "is not a VGG19 state dict" in msg and "features." in msg


def test_wrong_keys_batch_norm(tmp_path):
    torch.save(tv_vgg.make_layers(tv_vgg.cfgs["E"], batch_norm=True).state_dict(), tmp_path / "vgg19_bn.pth")
    assert "is not a VGG19 state dict" in error_line(load_vgg19, tmp_path / "vgg19_bn.pth")


def test_wrong_keys_other_model(tmp_path):
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    assert "missing features.0.weight" in error_line(load_vgg19, tmp_path / "other.pth")


@pytest.mark.parametrize("weights", ["imagenet1k", "randomly"])  # lesson 03 tries "pretrained"
def test_unknown_weights_string(weights):
    assert f"unknown weights '{weights}'" in error_line(load_vgg19, weights)


def test_bad_weights_type():
    assert "not int" in error_line(load_vgg19, 3)


def test_imagenet_offline_fails_fast(no_network):
    msg = error_line(load_vgg19, "imagenet")
    assert "unreachable" in msg and "STYLECOURSE_WEIGHTS=random" in msg and V.VGG19_URL in msg


def test_imagenet_download_failure(no_network, monkeypatch):
    monkeypatch.setattr(V, "_online", lambda *a, **kw: True)
    def fail(progress=True): raise urllib.error.URLError("Temporary failure in name resolution")
    monkeypatch.setattr(V, "_download", fail)
    msg = error_line(load_vgg19, "imagenet")
    assert "downloading VGG19 weights failed (URLError" in msg and "STYLECOURSE_WEIGHTS=random" in msg


def test_auto_offline_says_how_to_get_weights(no_network):
    msg = error_line(load_vgg19, "auto")
    assert "no VGG19 weights here" in msg and "STYLECOURSE_WEIGHTS=random" in msg and "weights=PATH" in msg


def test_auto_env_errors_name_the_variable(no_network, monkeypatch, tmp_path):
    monkeypatch.setenv("STYLECOURSE_WEIGHTS", str(tmp_path / "gone.pth"))
    assert error_line(load_vgg19).startswith("STYLECOURSE_WEIGHTS=")


def test_auto_env_random(monkeypatch):
    monkeypatch.setenv("STYLECOURSE_WEIGHTS", "random")
    with pytest.warns(RandomWeightsWarning): assert load_vgg19(last_layer="conv1_1").weights_source == "random"


def test_auto_under_in_test_never_touches_the_network(no_network, monkeypatch):
    monkeypatch.setenv("IN_TEST", "1")
    def boom(*a, **kw): raise AssertionError("auto probed the network under IN_TEST")
    monkeypatch.setattr(V, "_online", boom)
    with pytest.warns(RandomWeightsWarning): assert load_vgg19(last_layer="relu1_1").weights_source == "random"


def test_probe_does_not_wait_for_a_hanging_connection(monkeypatch):
    "A DNS lookup or connect that never returns must not block: the probe gives up after its timeout."
    release = threading.Event()
    def hang(*a, **kw):
        release.wait(30)
        raise OSError("released")
    monkeypatch.setattr(V.socket, "create_connection", hang)
    monkeypatch.setattr(V.urllib.request, "getproxies", lambda: {})
    try: assert V._online(timeout=0.2) is False
    finally: release.set()
