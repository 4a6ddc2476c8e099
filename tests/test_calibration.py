"""Calibration measures and the bootstrap."""

import pytest
import torch

import kd_lib
from kd_lib.chapters import calibration


def test_perfectly_calibrated_predictions_have_near_zero_ece():
    """Draw labels from the model's own probabilities: then
    confidence equals accuracy."""
    kd_lib.set_seed(0)
    logits = torch.randn(20000, 5) * 2
    probs = torch.softmax(logits, -1)
    labels = torch.multinomial(probs, 1).squeeze(1)
    assert (
        calibration.expected_calibration_error(logits, labels, num_bins=10)
        < 0.02
    )


def test_overconfident_predictions_have_large_ece():
    logits = torch.tensor([[10.0, 0.0]] * 100)  # ~100 % confident
    labels = torch.tensor([0] * 50 + [1] * 50)  # right half the time
    assert calibration.expected_calibration_error(
        logits, labels
    ) == pytest.approx(0.5, abs=1e-3)


def test_bins_count_every_prediction_once():
    kd_lib.set_seed(1)
    logits, labels = torch.randn(333, 4), torch.randint(0, 4, (333,))
    bins = calibration.reliability_bins(logits, labels, num_bins=7)
    assert bins.counts.sum() == 333 and len(bins.counts) == 7
    filled = bins.counts > 0
    assert (
        (bins.confidence[filled] > bins.edges[:-1][filled])
        & (bins.confidence[filled] <= bins.edges[1:][filled])
    ).all()


def test_agreement():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    b = torch.tensor([[2.0, 0.0], [3.0, 1.0], [0.0, 1.0]])
    assert kd_lib.distill.agreement(a, b) == pytest.approx(1 / 3)


def test_bootstrap_spread_shrinks_with_more_data_and_repeats_with_seed():
    def accuracy(logits, labels):
        return (logits.argmax(-1) == labels).double().mean()

    kd_lib.set_seed(0)
    small, big = 100, 10000
    logits = torch.randn(big, 3)
    labels = torch.randint(0, 3, (big,))
    spread_small = calibration.bootstrap(
        accuracy, logits[:small], labels[:small], resamples=300
    ).std()
    spread_big = calibration.bootstrap(
        accuracy, logits, labels, resamples=300
    ).std()
    # about sqrt(100) = 10 times smaller
    assert spread_big < spread_small / 5
    torch.testing.assert_close(
        calibration.bootstrap(
            accuracy, logits[:small], labels[:small], 50, seed=3
        ),
        calibration.bootstrap(
            accuracy, logits[:small], labels[:small], 50, seed=3
        ),
    )
    with pytest.raises(ValueError):
        calibration.bootstrap(accuracy, logits, labels[:5])
    with pytest.raises(ValueError):
        calibration.bootstrap(accuracy, logits, labels, resamples=1)


@pytest.mark.parametrize(
    "call,error",
    [
        (
            lambda: calibration.expected_calibration_error(
                torch.randn(3, 2), torch.tensor([0, 1])
            ),
            ValueError,
        ),
        (
            lambda: calibration.expected_calibration_error(
                torch.randn(3), torch.tensor([0, 1, 1])
            ),
            ValueError,
        ),
        (
            lambda: calibration.expected_calibration_error(
                torch.randn(2, 2), torch.tensor([0.0, 1.0])
            ),
            TypeError,
        ),
        (
            lambda: calibration.reliability_bins(
                torch.randn(2, 2), torch.tensor([0, 1]), num_bins=0
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.distill.agreement(
                torch.randn(2, 2), torch.randn(2, 3)
            ),
            ValueError,
        ),
    ],
)
def test_bad_input_raises_clear_errors(call, error):
    with pytest.raises(error):
        call()
