"""A local web page for trying a trained model: drop in a song or a spectrogram image, see the genres.

    python app.py                                                # no ckpt: the bundled FMA-small model
    python app.py ckpt=latest                                    # newest finished run, folds ensembled
    python app.py ckpt=logs/train/runs/<run> port=8080 max_seconds=900
    python app.py ckpt=latest host=0.0.0.0                       # serve it to the network

The model is loaded once; every answer goes through predict.py's code. Needs the `app` extra
(pip install -e ".[app]").
"""

import tempfile

import hydra
from omegaconf import DictConfig, OmegaConf

from genre_lightning.app.classify import FileClassifier
from genre_lightning.app.examples import make_examples
from genre_lightning.app.page import build_page, launch
from genre_lightning.app.why import make_why
from genre_lightning.errors import build, exit_on_user_error
from genre_lightning.predict.inference import load_ensemble, song_rendering


@hydra.main(version_base="1.3", config_path="configs", config_name="app")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    uncertainty = build("uncertain", cfg.uncertain)
    ensemble = load_ensemble(cfg)
    rendering = song_rendering(ensemble, OmegaConf.to_container(cfg.rendering))
    classifier = FileClassifier(ensemble, rendering, cfg.batch_size, cfg.aggregate, cfg.max_seconds)
    with tempfile.TemporaryDirectory(prefix="genre-lightning-examples-") as folder:
        examples = make_examples(folder, rendering) if cfg.examples else []
        why = make_why(cfg.why, classifier, cfg.explanation)
        page = build_page(classifier, examples, uncertainty, why)
        launch(page, cfg.host, cfg.port, cfg.share, cfg.max_upload_mb, [folder])


if __name__ == "__main__":
    main()
