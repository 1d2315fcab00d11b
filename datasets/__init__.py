"""TFDS dataset builders (imported as `gam_datasets`)."""
