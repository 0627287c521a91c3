"""The app served on this machine for the API and browser tests: the tiny trained run of tests/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from genre_lightning.app.classify import FileClassifier
from genre_lightning.app.examples import make_examples
from genre_lightning.app.page import build_page, launch
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
from genre_lightning.predict.inference import song_rendering

# small limits, so that the tests can cross them cheaply
MAX_SECONDS = 12
MAX_UPLOAD_MB = 1


@dataclass
class Served:
    url: str
    classifier: FileClassifier


@pytest.fixture(scope="package")
def served(trained_run, tmp_path_factory):
    ensemble = Ensemble(find_checkpoints(trained_run, trained_run.parent))
    classifier = FileClassifier(ensemble, song_rendering(ensemble), max_seconds=MAX_SECONDS)
    folder = tmp_path_factory.mktemp("examples")
    page = build_page(classifier, make_examples(folder, classifier.rendering))
    # port=None: the first free one from 7860, so parallel sessions on one machine do not collide
    url = launch(page, port=None, max_upload_mb=MAX_UPLOAD_MB, allowed_paths=[folder], block=False)
    yield Served(url, classifier)
    page.close()
