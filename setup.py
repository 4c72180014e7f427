"""Optional C accelerator for the Merkle engine; the pure-Python path is always there."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mcledger.anchoring._merkle_c",
            sources=["anchoring/_merkle_c.c"],
            libraries=["crypto"],
            optional=True,
        )
    ]
)
