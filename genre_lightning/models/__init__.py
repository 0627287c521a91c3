"""The network (a customized torchvision ResNet) and the LightningModule that trains it."""
