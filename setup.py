"""Build the one C extension; everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pseudonymise._hmacbatch",
            ["pseudonymise/_hmacbatch.c"],
            libraries=["crypto"],
        )
    ]
)
