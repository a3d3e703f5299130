import pytest
import torch

from cube.errors import InvalidInputError
from models.losses import FocalDiceLoss, LossConfig, valid_mask


def _target() -> torch.Tensor:
    t = torch.zeros(2, 1, 16, 16)
    t[:, :, 4:10, 4:10] = 0.5
    t[:, :, 5:9, 5:9] = 1.0
    return t


def test_weak_pixels_are_ignored_by_both_terms() -> None:
    target = _target()
    logits = torch.randn(2, 1, 16, 16)
    changed = logits.clone()
    weak = target == 0.5
    changed[weak] = 50.0
    loss = FocalDiceLoss()
    torch.testing.assert_close(loss(logits, target), loss(changed, target))
    changed[target == 1.0] += 1.0
    assert not torch.allclose(loss(logits, target), loss(changed, target))


def test_valid_mask_marks_only_known_pixels() -> None:
    target = _target()
    assert int(valid_mask(target).sum()) == 2 * (256 - 36 + 16)


def test_perfect_prediction_beats_wrong_prediction() -> None:
    target = _target()
    good = torch.where(target > 0.5, 10.0, -10.0)
    loss = FocalDiceLoss()
    assert float(loss(good, target)) < 0.05
    assert float(loss(-good, target)) > 0.5


def test_dice_weight_zero_gives_pure_focal() -> None:
    target = _target()
    logits = torch.randn(2, 1, 16, 16)
    focal = FocalDiceLoss(LossConfig(dice_weight=0.0))(logits, target)
    both = FocalDiceLoss()(logits, target)
    assert float(both) > float(focal)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"gamma": -1.0}, "gamma"),
        ({"label_smoothing": 1.0}, "label smoothing"),
        ({"dice_weight": -0.1}, "dice weight"),
    ],
)
def test_bad_loss_config(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        LossConfig(**kwargs)
