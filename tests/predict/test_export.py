import json

import numpy as np
import onnx
import onnxruntime
import torch

from genre_lightning.predict.ensemble import Ensemble, find_checkpoints


def test_onnx_export_matches_pytorch_and_carries_its_preprocessing(entry, trained_run, demo_root, tmp_path):
    path = tmp_path / "model.onnx"
    result = entry("predict.py", f"ckpt={trained_run}", f"export={path}")
    assert result.code == 0, result.err
    assert result.out.strip() == f"exported {path}"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left beside it

    ensemble = Ensemble(find_checkpoints(trained_run, trained_run.parent), precision="32")
    images = torch.stack([ensemble.preprocess(p) for p in sorted(demo_root.glob("Hip-Hop/*.jpg"))[:3]])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [inputs], [outputs] = session.get_inputs(), session.get_outputs()
    # batch, height and width are dynamic: eval presets that keep a clip's whole width make any width
    assert (inputs.name, inputs.type, inputs.shape[1:]) == ("images", "tensor(uint8)", [3, "height", "width"])
    assert outputs.name == "probabilities"
    # a batch size other than the one exported with: the batch axis is dynamic
    got = session.run(None, {"images": images.numpy()})[0]
    np.testing.assert_allclose(got, ensemble.probabilities(images).numpy(), atol=1e-4)
    wider = torch.cat([images, images[..., :16]], dim=-1)
    got = session.run(None, {"images": wider.numpy()})[0]
    np.testing.assert_allclose(got, ensemble.probabilities(wider).numpy(), atol=1e-4)

    metadata = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(metadata["class_names"]) == ensemble.class_names
    assert json.loads(metadata["preprocessing"]) == ensemble.preprocessing
    assert metadata["preprocessing"] and "spectrogram" in json.loads(metadata["preprocessing"])
    assert len(json.loads(metadata["checkpoints"])) == 2
    assert "uint8" in metadata["input"] and "3 x 64 x 64" in metadata["input"]


def test_export_needs_an_onnx_file_name(entry, trained_run, tmp_path):
    result = entry("predict.py", f"ckpt={trained_run}", f"export={tmp_path / 'model.pt'}")
    assert result.code == 2 and "name the file .onnx" in result.err
    assert not list(tmp_path.iterdir())
