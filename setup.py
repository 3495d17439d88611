"""Only here to install model/ and resources/ as spinegui._models and spinegui._resources.

pyproject.toml cannot combine package discovery with an extra mapped folder;
everything else about the build lives in pyproject.toml. Every folder under
resources/ is listed as a package of its own (icons/ included): setuptools
treats any folder it ships as a package and warns at length about one that
is not listed.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["spinegui", "spinegui.*"]),
        "spinegui._models",
        "spinegui._resources",
        "spinegui._resources.icons",
    ],
    package_dir={
        "spinegui._models": "model",
        "spinegui._resources": "resources",
        "spinegui._resources.icons": "resources/icons",
    },
)
