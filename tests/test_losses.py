import pytest
import torch

from salmap.errors import SalmapError
from salmap.losses import CombinedLoss, bce, cc, kld, nss


@pytest.fixture
def target():
    torch.manual_seed(0)
    t = torch.rand(2, 1, 8, 8) ** 4
    return t / t.amax(dim=(2, 3), keepdim=True)


def test_kld_is_zero_when_the_softmax_equals_the_target(target):
    logits = torch.log(target / target.sum(dim=(2, 3), keepdim=True))
    assert kld(logits, target).item() == pytest.approx(0.0, abs=1e-5)
    assert kld(torch.zeros_like(target), target).item() > 0.1


def test_cc_is_one_for_a_perfect_map_and_scale_free(target):
    logits = torch.log(target / target.sum(dim=(2, 3), keepdim=True))
    assert cc(logits, target).item() == pytest.approx(1.0, abs=1e-5)
    assert cc(logits, 7 * target).item() == pytest.approx(1.0, abs=1e-5)
    assert cc(-logits, target).item() < 0


def test_nss_is_the_mean_z_score_at_fixations():
    logits = torch.zeros(1, 1, 4, 4)
    logits[0, 0, 1, 2] = 5.0
    fix = torch.zeros(1, 1, 4, 4)
    fix[0, 0, 1, 2] = 1.0
    p = torch.softmax(logits.flatten(), 0)
    expected = ((p[6] - p.mean()) / p.std()).item()
    assert nss(logits, None, fix).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(SalmapError, match="needs fixations"):
        nss(logits, None, None)


def test_bce_matches_torch(target):
    logits = torch.randn_like(target)
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), target)
    assert bce(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)


def test_combination_by_weight(target):
    logits = torch.randn_like(target)
    fix = (target > 0.5).float()
    loss = CombinedLoss({"kld": 1, "cc": -0.1, "nss": -0.1})
    total, parts = loss(logits, target, fix)
    assert all(not p.requires_grad for p in parts.values())  # detached, left on the device
    assert total.item() == pytest.approx(
        float(parts["kld"] - 0.1 * parts["cc"] - 0.1 * parts["nss"]), rel=1e-5
    )
    assert loss.needs_fixations
    with pytest.raises(SalmapError, match="unknown loss 'mse'"):
        CombinedLoss({"mse": 1})
