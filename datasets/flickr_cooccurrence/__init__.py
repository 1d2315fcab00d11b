"""The `flickr_cooccurrence` TFDS builder."""

from gam_datasets.flickr_cooccurrence.flickr_cooccurrence_dataset_builder import (
    FlickrCooccurrence, FlickrCooccurrenceConfig)

__all__ = ["FlickrCooccurrence", "FlickrCooccurrenceConfig"]
