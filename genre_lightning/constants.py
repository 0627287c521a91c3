"""Names shared across layers: file extensions, run-folder files and dataset markers.

A leaf module (it imports nothing of the package), so that any layer can name these files without
importing the layer that writes them.
"""

# spectrogram images the data layer reads and predict.py accepts
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# songs that build_dataset.py and predict.py decode
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

# in a run folder: the split every fold was drawn from, and the cross-validation summary (written last,
# so its presence marks a finished run)
SPLIT_FILE = "split.json"
SUMMARY_FILE = "cv_summary.json"

# in a dataset folder: how build_dataset.py rendered its images, and the songs it has finished
RENDERING_MARKER = "spectrogram.json"
RENDER_LOG = "rendered.jsonl"
# in the synthetic demo set: the generator's settings
DEMO_MARKER = "demo_dataset.json"
