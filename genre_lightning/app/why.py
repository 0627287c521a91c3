"""The page's Why panel: on request (a button, so that answers stay as fast as before), the file just
predicted explained: the spectrogram with the map over it, the band and segment shares along its axes, and
one plain sentence."""

from __future__ import annotations

import importlib.util
import io
import time
from pathlib import Path

import gradio as gr
from PIL import Image

from genre_lightning.app.classify import FileClassifier
from genre_lightning.errors import UserError, one_line
from genre_lightning.explain.explainer import configured
from genre_lightning.explain.figure import draw
from genre_lightning.explain.predictions import explained, genre_index, title
from genre_lightning.predict.report import top_k


class Why:
    """Explains the classifier's answers: a song's windows by the songs' rendering, an image by the one
    the checkpoint records (else by its rows); ``genre``: the genre to explain (None: the top one)."""

    def __init__(self, classifier: FileClassifier, settings):
        ensemble = classifier.ensemble
        self.classifier = classifier
        self.explainers = {
            "audio": configured(settings, ensemble, classifier.rendering),
            "image": configured(settings, ensemble),
        }
        self.genre = genre_index(settings.genre, ensemble.class_names)

    def __call__(self, song: str | None, image: str | None) -> tuple[Image.Image | None, str]:
        """The picture and the sentence for the file on the page (a song or an image)."""
        file = song or image
        if file is None:
            return None, "Drop in a song or an image first."
        started = time.perf_counter()
        path = Path(file)
        try:
            answer = self.classifier.classify(path)
            names = self.classifier.ensemble.class_names
            p = answer.prediction
            target = self.genre if self.genre is not None else names.index(top_k(p, names, 1)[0][0])
            explainer = self.explainers[self.classifier.kind(path)]
            [explanation] = explained(explainer, [(p, answer.images, target)])
        except UserError as err:
            return None, f"Cannot explain this file: {one_line(err).replace(str(path), path.name)}"
        picture = Image.open(io.BytesIO(draw(explanation, title(p, explanation))))
        took = time.perf_counter() - started
        return picture, f"{explanation.sentence()} *(explained in {took:.1f} s)*"


def make_why(setting: bool | str, classifier: FileClassifier, settings) -> Why | None:
    """The app's ``why`` setting: true, false, or auto (the panel where Captum, the explain extra, is
    installed)."""
    if setting is False or setting == "auto" and importlib.util.find_spec("captum") is None:
        return None
    return Why(classifier, settings)


def why_panel(why: Why, song: gr.components.Component, image: gr.components.Component) -> None:
    """The panel, below the answer: a button, the picture and the sentence; the API's `/why` too."""
    with gr.Accordion("Why this genre?", open=False):
        gr.Markdown(
            "The map shows where the model looked for the genre (Grad-CAM); the bars, how much of its score "
            "was lost when each frequency band or each stretch of time alone was silenced."
        )
        button = gr.Button("Explain the answer", elem_id="why")
        sentence = gr.Markdown(elem_id="why-sentence")
        picture = gr.Image(show_label=False, format="png", interactive=False, elem_id="why-picture")
    button.click(why, [song, image], [picture, sentence], api_name="why")
