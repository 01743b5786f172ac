"Lesson 10's bench module: FLOP counts by hand, the memory estimate and its refusal, `stylecourse bench --quick`."
import re

import pytest
import torch

from stylecourse.bench import COLUMNS, conv_macs, eval_flops, flop_floor, gram_autograd, main, make_eval
from stylecourse.gram import gram_matrix
from stylecourse.transfer import (MemoryEstimateError, TUTORIAL_CONTENT_LAYERS, TUTORIAL_STYLE_LAYERS, check_memory,
                                  estimate_memory, largest_fitting_size, vgg19_shapes)


def test_conv_macs_by_hand():
    # conv2_1 at 64×64: after one pool the map is 32×32, 64 channels in, 128 out, 3×3 kernels
    assert conv_macs(64)["conv2_1"] == 64 * 128 * 9 * 32 * 32
    assert conv_macs(64)["conv1_1"] == 3 * 64 * 9 * 64 * 64
    assert list(conv_macs(64, "relu2_1")) == ["conv1_1", "conv1_2", "conv2_1"]
    assert len(conv_macs(64)) == 16
    assert vgg19_shapes((33, 50), "pool2")[-1] == ("pool2", 128, 8, 12)  # 33→16→8, 50→25→12: pools round down
    with pytest.raises(ValueError, match="valid names"): conv_macs(64, "conv6_1")


def test_eval_flops_by_hand():
    f = eval_flops(64, content_layers=["conv1_2"], style_layers=["conv1_1"])
    conv = 2 * (3 * 64 * 9 + 64 * 64 * 9) * 64 * 64       # conv1_1 and conv1_2, 2 FLOPs per MAC
    assert f["conv_fwd"] == conv and f["conv_bwd_input"] == conv and f["conv_bwd_weight"] == 0
    assert f["gram"] == 3 * 2 * 64 * 64 * 64 * 64           # one matmul forward, two backward
    assert f["total"] == 2 * conv + f["gram"]
    single = eval_flops(64, content_layers=["conv1_2"], style_layers=["conv1_1"], gram_backward="single")
    assert single["gram"] == 2 * 2 * 64 * 64 * 64 * 64     # a hand-written backward: one matmul
    g = eval_flops(64, content_layers=["conv1_2"], style_layers=["conv1_1"], frozen=False, truncate=False)
    assert g["conv_bwd_weight"] == conv and g["conv_bwd_input"] == conv
    assert g["conv_fwd"] == 2 * sum(conv_macs(64).values())  # the whole network runs forward
    assert flop_floor(f, conv_gflops=1.0, gram_gflops=2.0) == pytest.approx((2 * conv / 1 + f["gram"] / 2) / 1e9)


def test_memory_estimate_is_monotone():
    totals = [estimate_memory(s)["total"] for s in (64, 128, 256, 512, 1024)]
    assert totals == sorted(totals) and len(set(totals)) == 5
    hist = [estimate_memory(256, history_size=m)["total"] for m in (0, 5, 10, 100)]
    assert hist == sorted(hist) and len(set(hist)) == 4
    d = estimate_memory(512, history_size=100)["optimizer"] - estimate_memory(512, history_size=0)["optimizer"]
    assert d == 2 * 100 * 3 * 512 * 512 * 4                # the L-BFGS history: 2·m·N fp32 numbers
    assert estimate_memory(512, precision="bf16")["activations"] < estimate_memory(512)["activations"]
    assert estimate_memory((256, 512))["total"] < estimate_memory(512)["total"]
    for bad, match in (({"precision": "fp16"}, "precision"), ({"optimizer": "sgd"}, "optimizer"),
                       ({"history_size": -1}, "history_size"), ({"style_layers": ["relu9_1"]}, "valid names")):
        with pytest.raises(ValueError, match=match): estimate_memory(256, **bad)


def test_estimate_tracks_what_autograd_saves():
    "The activation estimate against the bytes autograd really saves (weights and targets are saved too)."
    n_params = 3 * 64 * 9 + 64 + 64 * 64 * 9 + 64 + 64 * 128 * 9 + 128 + 128 * 128 * 9 + 128 + 128 * 256 * 9 + 256
    for precision, nbytes in (("fp32", 4), ("bf16", 2)):
        evaluate, _ = make_eval(64, precision=precision, gram_precision=precision, channels_last=True, gram_backward="single")
        seen = {}
        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t): evaluate()
        est = estimate_memory(64, TUTORIAL_CONTENT_LAYERS, TUTORIAL_STYLE_LAYERS, precision=precision)
        predicted = est["activations"] + n_params * nbytes + est["targets"]
        assert abs(predicted / sum(seen.values()) - 1) < 0.35, (precision, predicted, sum(seen.values()))


def test_refusal_names_a_size_that_fits():
    budget = 2**30
    with pytest.raises(MemoryEstimateError) as e: check_memory(4096, available=budget)
    msg = str(e.value)
    assert isinstance(e.value, MemoryError) and "size=4096 needs about" in msg and "GiB" in msg
    fits = int(re.search(r"use size=(\d+) or less", msg).group(1))
    assert 0 < fits < 4096 and fits % 32 == 0
    assert estimate_memory(fits)["total"] <= 0.8 * budget < estimate_memory(fits + 32)["total"]
    assert check_memory(fits, available=budget)["total"] == estimate_memory(fits)["total"]
    # a wide image: the named size is a longest side at the same aspect ratio
    with pytest.raises(MemoryEstimateError, match=r"use size=\d+"): check_memory((1024, 4096), available=budget)
    # where a shorter L-BFGS history is enough, the message says so too
    with pytest.raises(MemoryEstimateError, match="history_size=10"):
        check_memory(1024, available=int(estimate_memory(1024, history_size=10)["total"] / 0.8) + 1)
    with pytest.raises(MemoryEstimateError, match="no size fits"): check_memory(256, available=1000)
    assert largest_fitting_size(0.8 * budget) == fits


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_matrix_backward_matches_autograd(layout):
    "Lesson 05's one-matmul backward against autograd's own (lesson 10's baseline), in both memory layouts."
    x = torch.rand(2, 5, 6, 7, dtype=torch.float64).to(memory_format=layout)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    w = torch.rand(2, 5, 5, dtype=torch.float64)
    for norm in ("hw", "chw", "none"):
        a.grad = b.grad = None
        ga, gb = gram_autograd(a, norm), gram_matrix(b, norm)
        torch.testing.assert_close(ga, gb)
        (ga * w).sum().backward(); (gb * w).sum().backward()
        torch.testing.assert_close(a.grad, b.grad)
    assert b.grad.is_contiguous(memory_format=layout)        # the gradient keeps the map's layout
    assert torch.autograd.gradcheck(lambda t: gram_matrix(t, "hw"), (x.clone().requires_grad_(),))
    with torch.autocast("cpu", dtype=torch.bfloat16):       # under autocast: bf16 product, gradient of the input's dtype
        f = torch.rand(1, 4, 8, 8).to(memory_format=layout).requires_grad_()
        g = gram_matrix(f, "chw")
    g.float().sum().backward()
    assert g.dtype == torch.bfloat16 and f.grad.dtype == torch.float32
    with pytest.raises(ValueError, match="norm"): gram_autograd(x, "bad")


def test_make_eval_levers():
    for kw in ({}, {"frozen": False, "truncate": False},
               {"channels_last": True, "precision": "bf16", "gram_precision": "bf16", "gram_backward": "single"}):
        evaluate, img = make_eval(32, **kw)
        loss = evaluate()
        assert torch.isfinite(loss) and img.grad is not None and img.grad.abs().sum() > 0


def test_main_quick_prints_the_table(capsys):
    assert main(["--quick", "--sizes", "32", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    for col in COLUMNS: assert col in out, col
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*32\s+(fp32|bf16)\s", line)]
    assert [r[1] for r in rows] == ["fp32", "bf16"]
    for r in rows:
        assert r[5].endswith("×") and float(r[5][:-1]) > 0      # the speed-up
        assert float(r[9]) < 0.01                               # the first loss: the same computation
        assert 0 <= float(r[11]) <= float(r[10]) <= 1           # mean and largest pixel difference


@pytest.mark.parametrize("argv, match", [(["--sizes", "2"], "--sizes must be at least 4"),
                                         (["--steps", "1"], "--steps must be at least 2"),
                                         (["--precisions", "fp16"], "invalid choice"),
                                         (["--device", "gpu"], "unknown device")])
def test_main_bad_arguments(argv, match, capsys):
    with pytest.raises(SystemExit) as e: main(argv)
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and match in last, last
