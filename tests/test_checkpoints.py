import json

import pytest
import torch

import fgsm_helpers as fh


def test_round_trip_keeps_weights_and_metadata(tmp_path, random_cnn, tiny_batch):
    path = tmp_path / "model.pt"
    fh.save_checkpoint(
        random_cnn, path, {"recipe": "clean", "seed": 0, "epochs": 1, "clean_accuracy": 12.5}
    )
    model, meta = fh.load_checkpoint(path, "PaperCNN")
    x, _ = tiny_batch
    assert torch.equal(model(x), random_cnn(x))
    assert meta["recipe"] == "clean" and meta["architecture"] == "PaperCNN"
    assert meta["parameters"] == 4_738_826 and "torch" in meta["versions"]
    assert json.loads((tmp_path / "model.pt.json").read_text())["seed"] == 0
    assert not model.training


def test_failed_save_leaves_previous_file_intact(tmp_path, random_cnn, monkeypatch):
    path = tmp_path / "model.pt"
    fh.save_checkpoint(random_cnn, path, {"version": "old"})
    before = path.read_bytes()
    real_save = torch.save

    def broken_save(obj, file):
        real_save({"partial": True}, file)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        fh.save_checkpoint(fh.SmallCNN(), path, {"version": "new"})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model.pt.json"]
    assert fh.load_checkpoint(path)[1]["version"] == "old"


def test_other_architecture_is_refused(tmp_path):
    path = tmp_path / "small.pt"
    fh.save_checkpoint(fh.SmallCNN(), path)
    with pytest.raises(fh.CheckpointError, match="SmallCNN, not the PaperCNN"):
        fh.load_checkpoint(path, "PaperCNN")


def test_foreign_weights_are_refused(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"architecture": "PaperCNN", "state_dict": fh.SmallCNN().state_dict()}, path)
    with pytest.raises(fh.CheckpointError, match="do not fit"):
        fh.load_checkpoint(path)
    torch.save(fh.PaperCNN().state_dict(), path)
    with pytest.raises(fh.CheckpointError, match="not written by"):
        fh.load_checkpoint(path)


def test_truncated_file_is_refused(tmp_path, random_cnn):
    path = tmp_path / "model.pt"
    fh.save_checkpoint(random_cnn, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(fh.CheckpointError, match="truncated"):
        fh.load_checkpoint(path)


def test_missing_file_and_bad_metadata(tmp_path, random_cnn):
    with pytest.raises(FileNotFoundError):
        fh.load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(TypeError, match="JSON"):
        fh.save_checkpoint(random_cnn, tmp_path / "m.pt", {"tensor": torch.ones(1)})
    assert not (tmp_path / "m.pt").exists()
