"""Only here to install model/ and resources/ as spinegui._models and spinegui._resources.

pyproject.toml cannot combine package discovery with an extra mapped folder;
everything else about the build lives in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["spinegui", "spinegui.*"]),
        "spinegui._models",
        "spinegui._resources",
    ],
    package_dir={"spinegui._models": "model", "spinegui._resources": "resources"},
)
