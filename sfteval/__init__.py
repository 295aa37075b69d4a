"""sfteval: how SFT data composition shapes abilities."""
__version__ = "0.1.0"
