"""The local web page (app.py): a song or a spectrogram image in, the model's answer as pictures out."""
