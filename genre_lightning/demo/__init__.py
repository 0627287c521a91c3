"""The synthetic seven-genre demo set: the synthesiser and the dataset it writes."""
