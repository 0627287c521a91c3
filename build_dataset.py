"""Render songs into the spectrogram-image dataset that train.py reads; rerun to resume.

python build_dataset.py src=data/audio out=data/spectrograms                    # src/<Genre>/*.mp3
python build_dataset.py src=data/fma labels=data/fma/labels.csv out=data/spectrograms
python build_dataset.py src=data/audio out=data/windows rendering.window_seconds=10 workers=8
"""

import hydra
from omegaconf import DictConfig, OmegaConf

from genre_lightning.audio.dataset import build_dataset, find_songs, format_report
from genre_lightning.audio.rendering import Rendering
from genre_lightning.errors import config_part, exit_on_user_error


@hydra.main(version_base="1.3", config_path="configs", config_name="build_dataset")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    with config_part("rendering"):
        rendering = Rendering.from_dict(OmegaConf.to_container(cfg.rendering))
    songs = find_songs(cfg.src, cfg.labels, cfg.path_column, cfg.genre_column)
    report = build_dataset(songs, cfg.out, rendering, cfg.workers)
    print(format_report(report, cfg.out))
    if report.failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
