"stylecourse.vgg: layer names and shapes, weights from every source, and every weights error (never the network)."
import threading, urllib.error, warnings

import pytest
import torch
from torch import nn
from torchvision.models import vgg as tv_vgg

from stylecourse import vgg as V
from stylecourse.vgg import (IMAGENET_MEAN, IMAGENET_STD, VGG19_LAYERS, RandomWeightsWarning, WeightsError,
                             imagenet_normalize, layer_table, load_vgg19)


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

def test_names_and_children(vgg):
    assert len(VGG19_LAYERS) == 37 and VGG19_LAYERS[0] == "conv1_1" and VGG19_LAYERS[-1] == "pool5"
    assert tuple(n for n, _ in vgg.named_children()) == VGG19_LAYERS
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, m in vgg.named_children(): assert isinstance(m, kinds[name[:4]]), name


def test_frozen_eval_not_inplace(vgg):
    assert not vgg.training
    assert all(not p.requires_grad for p in vgg.parameters())
    assert all(not m.inplace for m in vgg.modules() if isinstance(m, nn.ReLU))
    assert all(p.device.type == "cpu" for p in vgg.parameters())


def test_shapes_at_several_layers_non_square(vgg, x):
    expect = {"relu1_1": (64, 40, 56), "conv2_2": (128, 20, 28), "relu3_1": (256, 10, 14),
              "conv4_2": (512, 5, 7), "relu5_1": (512, 2, 3), "pool5": (512, 1, 1)}
    with torch.no_grad():
        for name, shape in expect.items():
            assert vgg[: VGG19_LAYERS.index(name) + 1](x).shape == (1, *shape), name


def test_same_as_torchvision_architecture(vgg, x):
    "Our weights in torchvision's own VGG19 feature stack give the same outputs."
    tv = tv_vgg.make_layers(tv_vgg.cfgs["E"]).eval()
    tv.load_state_dict({k.removeprefix("features."): v for k, v in features_sd(vgg).items()})
    with torch.no_grad(): assert torch.equal(tv(x), vgg(x))


def test_truncation(vgg, x):
    short = quiet_load("random", device="cpu", last_layer="relu3_1")
    assert list(short._modules) == list(VGG19_LAYERS[:12])
    with torch.no_grad(): assert torch.equal(short(x), vgg[:12](x))
    assert list(quiet_load("random", device="cpu", last_layer="pool5")._modules) == list(VGG19_LAYERS)


def test_unknown_last_layer():
    with pytest.raises(ValueError, match=r"unknown VGG19 layer 'conv6_1'; valid names: conv1_1, relu1_1"):
        load_vgg19("random", last_layer="conv6_1")


def test_default_device():
    from stylecourse.images import default_device
    assert next(quiet_load("random", last_layer="conv1_1").parameters()).device.type == default_device().type


def test_layer_table():
    rows = layer_table()
    assert [r["name"] for r in rows] == list(VGG19_LAYERS)
    assert all(r["torchvision"] == f"features.{i}" for i, r in enumerate(rows))
    by = {r["name"]: r for r in rows}
    assert [by[n]["tutorial"] for n in ("conv1_1", "relu1_1", "pool1", "conv2_2", "conv4_2", "pool5")] == \
        ["conv_1", "relu_1", "pool_2", "conv_4", "conv_10", "pool_16"]
    assert [by[f"relu{b}_1"]["receptive_field"] for b in range(1, 6)] == [3, 10, 24, 68, 156]
    # torchvision's own layer list puts a conv exactly where we do
    convs = [i for i, m in enumerate(tv_vgg.make_layers(tv_vgg.cfgs["E"])) if isinstance(m, nn.Conv2d)]
    assert convs == [i for i, n in enumerate(VGG19_LAYERS) if n.startswith("conv")]


def test_url_is_torchvisions():
    from torchvision.models import VGG19_Weights
    assert V.VGG19_URL == VGG19_Weights.IMAGENET1K_V1.url


# --- normalisation ------------------------------------------------------------------------------------------------

def test_imagenet_normalize():
    img = torch.rand(3, 5, 3)  # width 3: the broadcasting trap
    out = imagenet_normalize(img)
    for c in range(3): assert torch.allclose(out[c], (img[c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c])
    assert torch.equal(imagenet_normalize(img[None])[0], out)
    with pytest.raises(ValueError, match="RGB"): imagenet_normalize(torch.rand(1, 5, 5))
    with pytest.raises(ValueError, match="float"): imagenet_normalize(torch.zeros(3, 5, 5, dtype=torch.uint8))


# --- random weights -----------------------------------------------------------------------------------------------

def test_random_weights_identical_and_independent_of_global_rng(vgg):
    torch.manual_seed(1234); torch.rand(10)
    again = quiet_load("random", device="cpu")
    for (k, a), b in zip(vgg.state_dict().items(), again.state_dict().values()): assert torch.equal(a, b), k
    w = vgg.conv4_2.weight
    assert abs(w.std().item() - (2 / (9 * 512)) ** 0.5) < 1e-3      # He (fan-out) initialisation, as torchvision's
    assert torch.count_nonzero(vgg.conv4_2.bias) == 0


def test_random_weights_warn():
    with pytest.warns(RandomWeightsWarning, match="untrained"):
        load_vgg19("random", last_layer="conv1_1")


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


def test_features_only_format(vgg, x, tmp_path):
    path = tmp_path / "features.pth"
    torch.save({k.removeprefix("features."): v for k, v in features_sd(vgg).items()}, path)
    with torch.no_grad(): assert torch.equal(load_vgg19(path, device="cpu")(x), vgg(x))


def test_our_own_state_dict_round_trips(vgg, x, tmp_path):
    torch.save(vgg.state_dict(), tmp_path / "ours.pth")
    loaded = load_vgg19(tmp_path / "ours.pth", device="cpu", last_layer="conv3_1")
    with torch.no_grad(): assert torch.equal(loaded(x), vgg[:11](x))


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

def test_missing_file(tmp_path):
    msg = error_line(load_vgg19, tmp_path / "nowhere.pth")
    assert "weights file not found" in msg and "nowhere.pth" in msg


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


def test_wrong_shapes(vgg, tmp_path):
    sd = features_sd(vgg)
    sd["features.28.weight"] = torch.zeros(512, 512, 5, 5)
    torch.save(sd, tmp_path / "shapes.pth")
    msg = error_line(load_vgg19, tmp_path / "shapes.pth")
    assert "features.28.weight has shape (512, 512, 5, 5), expected (512, 512, 3, 3)" in msg


@pytest.mark.parametrize("weights", ["pretrained", "imagenet1k", "randomly"])
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
