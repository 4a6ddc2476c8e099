import math

import pytest
import torch
from torch import nn

import kd_lib
from kd_lib.chapters import receptive_fields as rc


class Lag(nn.Module):
    """Returns 2 × the input ``lag`` steps before the last one: its
    field is that one step."""

    def __init__(self, lag):
        super().__init__()
        self.lag = lag
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return self.scale * x[:, -1 - self.lag]


# -------------------------------------------------------- theoretical field


@pytest.mark.parametrize("k,levels", [(2, 1), (2, 4), (3, 3), (5, 2)])
def test_reachable_lags_end_in_exactly_the_receptive_field(k, levels):
    layers = rc.reachable_lags(k, levels)
    assert len(layers) == 2 * levels + 1
    assert layers[0] == [0]
    assert layers[-1] == list(range(kd_lib.receptive_field(k, levels)))


def test_reachable_lags_grow_layer_by_layer():
    layers = rc.reachable_lags(2, 3)
    # dilation 4 first: {0, 4}, {0, 4, 8}; then dilation 2 fills the even
    # lags; dilation 1 the rest
    assert [len(lags) for lags in layers] == [1, 2, 3, 6, 7, 14, 15]


def test_reachable_lags_bad_input():
    with pytest.raises(ValueError, match="kernel_size"):
        rc.reachable_lags(1, 3)
    with pytest.raises(TypeError, match="num_levels"):
        rc.reachable_lags(2, 2.0)


# ----------------------------------------------------------- measured field


@pytest.mark.parametrize("k,levels", [(2, 3), (3, 2)])
def test_gradient_map_is_zero_outside_the_theoretical_field(k, levels):
    kd_lib.set_seed(0)
    model = kd_lib.TCNClassifier(3, 4, [8] * levels, kernel_size=k)
    rf = model.receptive_field
    grad = rc.input_gradient_map(model, torch.randn(16, rf + 10, 3))
    assert grad.shape == (rf + 10,)
    assert torch.all(grad[rf:] == 0)
    # the nearest and the farthest visible input both count
    assert grad[0] > 0 and grad[rf - 1] > 0


def test_gradient_map_finds_the_one_step_a_model_reads():
    grad = rc.input_gradient_map(Lag(3), torch.randn(5, 10, 2))
    expected = torch.zeros(10)
    expected[3] = 4.0  # |d(2 x_c)/dx_c| = 2, summed over 2 features
    torch.testing.assert_close(grad, expected)
    assert rc.effective_receptive_field(grad) == 4


def test_gradient_map_of_a_sequence_readout_uses_the_last_step():
    kd_lib.set_seed(0)
    model = kd_lib.TCNClassifier(
        2, 3, [8, 8], kernel_size=2, readout="sequence"
    )
    grad = rc.input_gradient_map(model, torch.randn(4, 20, 2))
    assert torch.all(grad[model.receptive_field :] == 0)


def test_gradient_map_leaves_the_training_mode_alone():
    model = kd_lib.TCNClassifier(2, 3, [8], kernel_size=2, dropout=0.5)
    model.train()
    rc.input_gradient_map(model, torch.randn(2, 6, 2))
    assert model.training


def test_gradient_map_bad_input():
    with pytest.raises(TypeError, match="nn.Module"):
        rc.input_gradient_map(lambda x: x, torch.randn(2, 5, 1))
    with pytest.raises(ValueError, match="3 dimensions"):
        rc.input_gradient_map(Lag(0), torch.randn(5, 1))


def test_effective_field_counts_the_steps_holding_the_mass():
    grad = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0, 0.0])
    assert rc.effective_receptive_field(grad, mass=0.4) == 1
    assert rc.effective_receptive_field(grad, mass=0.7) == 2
    assert rc.effective_receptive_field(grad, mass=0.95) == 4
    assert rc.effective_receptive_field(grad, mass=1.0) == 4


def test_effective_field_bad_input():
    with pytest.raises(ValueError, match="mass"):
        rc.effective_receptive_field(torch.ones(3), mass=0.0)
    with pytest.raises(TypeError, match="mass"):
        rc.effective_receptive_field(torch.ones(3), mass="all")
    with pytest.raises(ValueError, match="non-negative"):
        rc.effective_receptive_field(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="all zeros"):
        rc.effective_receptive_field(torch.zeros(3))
    with pytest.raises(ValueError, match="1 dimensions"):
        rc.effective_receptive_field(torch.ones(2, 3))


# -------------------------------------------------------------- design rule


@pytest.mark.parametrize("distance", [0, 1, 6, 7, 30, 31, 100, 999])
def test_design_covers_the_distance_and_nothing_cheaper_does(distance):
    best = rc.smallest_tcn(
        distance, input_size=4, num_outputs=4, channels=8
    )
    assert best.receptive_field == kd_lib.receptive_field(
        best.kernel_size, best.num_levels
    )
    assert best.receptive_field >= distance + 1
    # one level fewer with the same kernel does not reach that far back
    if best.num_levels > 1:
        assert (
            kd_lib.receptive_field(best.kernel_size, best.num_levels - 1)
            < distance + 1
        )
    # brute force: no covering configuration has fewer parameters
    for k in range(2, 9):
        for levels in range(1, 12):
            if kd_lib.receptive_field(k, levels) >= distance + 1:
                model = kd_lib.TCNClassifier(
                    4, 4, [8] * levels, kernel_size=k
                )
                assert kd_lib.count_parameters(model) >= best.parameters
                break  # more levels only cost more


def test_design_bad_input():
    with pytest.raises(ValueError, match="distance"):
        rc.smallest_tcn(-1, 1, 2, 4)
    with pytest.raises(TypeError, match="distance"):
        rc.smallest_tcn(3.5, 1, 2, 4)
    with pytest.raises(ValueError, match="channels"):
        rc.smallest_tcn(3, 1, 2, 0)


# ------------------------------------------------------ soft-label floor


def test_soft_loss_floor_is_zero_for_a_constant_teacher():
    logits = torch.tensor([[1.0, 2.0, 0.5]]).repeat(10, 1)
    assert rc.soft_loss_floor(logits, temperature=2.0) == pytest.approx(
        0.0, abs=1e-12
    )


def test_soft_loss_floor_of_a_sure_uniform_teacher_is_log_classes():
    # each class equally often, each answer certain
    logits = 50.0 * torch.eye(4).repeat(25, 1)
    assert rc.soft_loss_floor(logits, temperature=1.0) == pytest.approx(
        math.log(4), abs=1e-6
    )


def test_soft_loss_floor_is_the_mean_distributions_loss_and_beats_others():
    kd_lib.set_seed(0)
    teacher = 3 * torch.randn(200, 5)
    temperature = 2.0
    floor = rc.soft_loss_floor(teacher, temperature)
    mean_p = torch.softmax(teacher / temperature, -1).mean(0)
    # logits giving mean_p at T
    as_student = (temperature * mean_p.log()).expand(200, 5)
    loss = kd_lib.DistillationLoss(temperature, alpha=1.0)(
        as_student, None, teacher
    )
    assert float(loss) == pytest.approx(floor, rel=1e-5)
    for _ in range(5):
        other = torch.randn(1, 5).expand(200, 5)
        assert (
            float(
                kd_lib.DistillationLoss(temperature, alpha=1.0)(
                    other, None, teacher
                )
            )
            >= floor
        )


def test_soft_loss_floor_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        rc.soft_loss_floor(torch.randn(3, 2), temperature=0)
    with pytest.raises(ValueError, match="2 dimensions"):
        rc.soft_loss_floor(torch.randn(3))


def test_path_weights_count_paths_and_discount_long_ones():
    # shortcut + (1 + z)^2
    assert rc.path_weights(2, 1).tolist() == [2.0, 2.0, 1.0]
    assert rc.path_weights(2, 1, conv_gain=0.5).tolist() == [
        1.25,
        0.5,
        0.25,
    ]
    for k, levels in [(2, 4), (3, 3)]:
        counts = rc.path_weights(k, levels)
        assert len(counts) == kd_lib.receptive_field(k, levels)
        assert torch.all(counts > 0)
        # every choice of taps (or the shortcut) is one path
        assert counts.sum() == (k**2 + 1) ** levels
        # the farthest lag is reached only through every convolution: weight
        # gain ** (2 L)
        assert rc.path_weights(k, levels, conv_gain=0.3)[
            -1
        ].item() == pytest.approx(0.3 ** (2 * levels))
    with pytest.raises(ValueError, match="conv_gain"):
        rc.path_weights(2, 3, conv_gain=0.0)
