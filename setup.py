"""Installs the graph agreement models package: gam, graph_models, gam_datasets."""

import pathlib
import re

import setuptools

ROOT = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (ROOT / "gam" / "__init__.py").read_text()).group(1)

setuptools.setup(
    name="graph-agreement-models",
    version=VERSION,
    description=("Graph Agreement Models and graph-regularised node "
                 "classification for TensorFlow 2 / Keras 3"),
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=(setuptools.find_packages(include=["gam", "gam.*", "graph_models",
                                                "graph_models.*"])
              + ["gam_datasets"]
              + [f"gam_datasets.{name}" for name in
                 setuptools.find_packages(where="datasets")]),
    # The TFDS builders live in datasets/ but import as gam_datasets: a
    # top-level `datasets` would shadow the Hugging Face package.
    package_dir={"gam_datasets": "datasets"},
    # Builders ship their real-format dummy files and download checksums, as
    # TFDS builders do.
    package_data={"gam_datasets": ["*/dummy_data/**/*", "*/checksums.tsv"]},
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.0",
        "graph-nets>=1.1.0",
        "dm-sonnet>=2.0.2",
        "dm-tree",
        "neural-structured-learning>=1.4.0",
        "tensorflow-datasets>=4.9",
        # The dataset builders write their large and tag-graph configs with
        # Beam pipelines (TFDS runs them on the local DirectRunner by default).
        "apache-beam>=2.50",
        # TFDS needs it to find the checksums of builders outside its tree.
        "importlib_resources",
        # The `tfds build` command line imports it.
        "mlcroissant",
        "numpy",
        "scipy",
        "matplotlib",
        # --tensorboard: TF's summary ops need it and TF no longer pulls it in.
        "tensorboard",
    ],
    # dill: tfds.testing.DatasetBuilderTestCase imports it; pytest-xdist runs
    # the suite on two workers (pytest.ini).
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3.2", "dill"]},
    entry_points={"console_scripts": ["gam-train=gam.cli:main"]},
)
