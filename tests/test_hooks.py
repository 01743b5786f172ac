"stylecourse.hooks: features by name from any model, equal to a manual forward and to torchvision's extractor, no leaks."
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from stylecourse.hooks import FeatureExtractor, Hook, Hooks
from stylecourse.vgg import RandomWeightsWarning, load_vgg19

LAYERS = ["relu1_1", "conv2_2", "relu3_1", "conv4_2", "relu5_1"]


@pytest.fixture(scope="module")
def vgg():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return load_vgg19("random", device="cpu")


@pytest.fixture(scope="module")
def x():
    return torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))  # not square


def hook_count(model):
    "Forward hooks on every module of `model`."
    return sum(len(m._forward_hooks) for m in model.modules())


class Skip(nn.Module):
    "Not a Sequential: functional ReLUs and a skip connection in forward."
    def __init__(self):
        super().__init__()
        self.stem, self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)
    def forward(self, x):
        h = F.relu(self.stem(x))
        h = h + self.conv2(F.relu(self.conv1(h)))
        return self.head(F.relu(h))


# --- what it returns ----------------------------------------------------------------------------------------------

def test_names_and_shapes_non_square(vgg, x):
    with FeatureExtractor(vgg, LAYERS) as fx:
        with torch.no_grad(): feats = fx(x)
    assert list(feats) == LAYERS
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "relu1_1": (1, 64, 48, 64), "conv2_2": (1, 128, 24, 32), "relu3_1": (1, 256, 12, 16),
        "conv4_2": (1, 512, 6, 8), "relu5_1": (1, 512, 3, 4)}


def test_equal_to_manual_forward(vgg, x):
    with torch.no_grad():
        feats = FeatureExtractor(vgg, LAYERS)(x)
        h, manual = x, {}
        for name, layer in vgg.named_children():
            h = layer(h)
            manual[name] = h
    for k in LAYERS: assert torch.equal(feats[k], manual[k]), k
    assert (feats["conv2_2"] < 0).any(), "conv outputs are pre-ReLU (no in-place ReLU overwrote them)"




def test_order_follows_the_request_and_repeats_drop(vgg, x):
    with torch.no_grad(): feats = FeatureExtractor(vgg, ["relu3_1", "relu1_1", "relu3_1"])(x)
    assert list(feats) == ["relu3_1", "relu1_1"]


def test_single_name(vgg, x):
    with torch.no_grad(): assert list(FeatureExtractor(vgg, "relu2_1")(x)) == ["relu2_1"]


def test_gradients_flow_through_features(vgg, x):
    img = x.clone().requires_grad_()
    feats = FeatureExtractor(vgg, ["relu1_1", "relu2_1"])(img)
    (feats["relu1_1"].pow(2).mean() + feats["relu2_1"].pow(2).mean()).backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_non_sequential_model():
    torch.manual_seed(0)
    m = Skip().eval()
    inp = torch.randn(2, 3, 16, 12)
    with torch.no_grad():
        feats = FeatureExtractor(m, ["conv2", "head"])(inp)
        assert torch.equal(feats["head"], m(inp))
        tv = create_feature_extractor(m, ["conv2", "head"])(inp)
    for k in feats: assert torch.equal(feats[k], tv[k]), k


def test_resnet_dotted_names_and_twice_run_module():
    r = torchvision.models.resnet18().eval()
    inp = torch.randn(1, 3, 64, 48)
    names = ["layer1.0.conv1", "layer1.0.relu", "layer2", "layer3.1.conv2", "fc"]
    with torch.no_grad():
        ours = FeatureExtractor(r, names)(inp)
        theirs = create_feature_extractor(r, names)(inp)   # layer1.0.relu: its first call, as ours
        assert torch.equal(ours["fc"], r(inp))
    for k in names: assert torch.equal(ours[k], theirs[k]), k
    assert hook_count(r) == 0


def test_in_place_overwrite_is_detected_and_clone_fixes_it():
    "ResNet's bn1 output goes through ReLU(inplace=True); layer3.1.bn2's gets `+= identity`."
    r = torchvision.models.resnet18().eval()
    inp = torch.randn(1, 3, 64, 48)
    for name in ("bn1", "layer3.1.bn2"):
        with pytest.raises(RuntimeError, match=f"the output of '{name}' was overwritten in place.*clone=True"):
            with torch.no_grad(): FeatureExtractor(r, [name, "fc"])(inp)
        assert hook_count(r) == 0
    with torch.no_grad():
        feats = FeatureExtractor(r, ["bn1", "fc"], clone=True)(inp)
        assert torch.equal(feats["bn1"], r.bn1(r.conv1(inp))) and feats["bn1"].min() < 0
        assert torch.equal(feats["fc"], r(inp))
        with torch.inference_mode():                   # no version counters there: nothing to check, no crash
            assert FeatureExtractor(r, ["layer1", "fc"])(inp)["layer1"].shape == (1, 64, 16, 12)


def test_in_place_ops_before_storing_are_fine():
    "A model that changes its input in place before the hooked layer runs is not reported."
    class Pre(nn.Module):
        def __init__(self): super().__init__(); self.conv = nn.Conv2d(3, 3, 1)
        def forward(self, x): return self.conv(x.clone().mul_(2)).relu()
    with torch.no_grad(): assert FeatureExtractor(Pre(), ["conv"])(torch.rand(1, 3, 4, 4))["conv"].shape == (1, 3, 4, 4)


# --- bad input ----------------------------------------------------------------------------------------------------

def test_unknown_name(vgg):
    with pytest.raises(ValueError, match=r"unknown layer 'relu6_1' for Sequential; valid names: conv1_1, relu1_1"):
        FeatureExtractor(vgg, ["relu1_1", "relu6_1"])
    with pytest.raises(ValueError, match=r"unknown layer 'layer9'.*layer1\.0\.conv1"):
        FeatureExtractor(torchvision.models.resnet18(), ["layer9"])


def test_no_layers(vgg):
    with pytest.raises(ValueError, match="no layers given"): FeatureExtractor(vgg, [])


def test_layer_that_never_runs():
    class Unused(nn.Module):
        def __init__(self): super().__init__(); self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)
        def forward(self, x): return self.a(x)
    m = Unused()
    with pytest.raises(RuntimeError, match="layer 'b' did not run"): FeatureExtractor(m, ["a", "b"])(torch.zeros(1, 2))
    assert hook_count(m) == 0


# --- stopping early -----------------------------------------------------------------------------------------------

def test_stops_after_the_last_needed_layer(vgg, x):
    with Hook(vgg.conv2_2) as later, torch.no_grad():
        FeatureExtractor(vgg, ["relu1_1", "relu2_1"])(x)
        assert later.stored is None, "conv2_2 ran although relu2_1 was the last layer needed"
        FeatureExtractor(vgg, ["relu1_1", "relu2_1"], stop_early=False)(x)
        assert later.stored is not None




# --- no leaks -----------------------------------------------------------------------------------------------------

def test_no_hooks_after_normal_exit(vgg, x):
    with FeatureExtractor(vgg, LAYERS) as fx:
        with torch.no_grad(): fx(x)
    assert hook_count(vgg) == 0


def test_no_hooks_after_exception_in_with_block(vgg, x):
    with pytest.raises(KeyError):
        with FeatureExtractor(vgg, LAYERS) as fx:
            with torch.no_grad(): fx(x)
            raise KeyError("user code fails inside the block")
    assert hook_count(vgg) == 0


def test_no_hooks_after_exception_in_forward(vgg):
    with FeatureExtractor(vgg, LAYERS) as fx:
        with pytest.raises(RuntimeError): fx(torch.zeros(1, 4, 16, 16))   # wrong channel count
        assert hook_count(vgg) == 0
    assert fx.features == {}


def test_no_hooks_after_50_uses(vgg):
    small = torch.rand(1, 3, 16, 16)
    for i in range(50):
        with FeatureExtractor(vgg, LAYERS[: 1 + i % 3]) as fx:
            with torch.no_grad(): fx(small)
        assert hook_count(vgg) == 0
    fx = FeatureExtractor(vgg, ["relu2_1"])
    with torch.no_grad():
        for _ in range(50): fx(small)                  # without a with block too
    assert hook_count(vgg) == 0 and fx.features == {}


# --- Hook and Hooks -----------------------------------------------------------------------------------------------

def test_hook_stores_and_removes(vgg, x):
    with Hook(vgg.relu1_1) as h:
        assert hook_count(vgg) == 1
        with torch.no_grad(): vgg[:2](x)
    assert h.stored.shape == (1, 64, 48, 64) and hook_count(vgg) == 0
    h.remove()                                           # twice is fine
    assert "removed" in repr(h)


def test_hook_removed_on_exception(vgg):
    with pytest.raises(ZeroDivisionError):
        with Hook(vgg.relu1_1): 1 / 0
    assert hook_count(vgg) == 0


def test_hook_custom_function(vgg, x):
    def count(hook, module, inputs, output): hook.stored = (hook.stored or 0) + 1
    with Hook(vgg.relu1_1, count) as h, torch.no_grad():
        vgg[:2](x); vgg[:2](x)
    assert h.stored == 2




def test_hooks_remove_together(vgg, x):
    mods = [vgg.relu1_1, vgg.relu2_1, vgg.relu3_1]
    with Hooks(mods) as hs:
        assert len(hs) == 3 and hook_count(vgg) == 3
        with torch.no_grad(): vgg[:12](x)
        assert [t.shape[1] for t in hs.stored] == [64, 128, 256]
        assert hs[0].module is vgg.relu1_1 and [h.module for h in hs] == mods
    assert hook_count(vgg) == 0
    with pytest.raises(ValueError):
        with Hooks(mods): raise ValueError("boom")
    assert hook_count(vgg) == 0

