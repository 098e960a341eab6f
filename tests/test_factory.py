import pytest
import torch

from ferbench import UserError, create_model, get_dataset


def test_create_model_builds_a_fresh_registered_model():
    a = create_model("smallcnn", num_classes=5, in_chans=1, image_size=48)
    b = create_model("smallcnn", num_classes=5, in_chans=1, image_size=48)
    assert a is not b and a(torch.zeros(2, 1, 48, 48)).shape == (2, 5)


def test_get_dataset_errors():
    with pytest.raises(UserError, match="unknown dataset 'nope'"):
        get_dataset("nope")
