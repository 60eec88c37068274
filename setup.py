"""Package set-up for torsoseg. Build-system and tool settings live in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    name="torsoseg",
    version="0.1.0",
    description="Self-configuring 3D U-Net toolkit for multi-organ torso CT segmentation "
    "(pretrain, fine-tune, tiled inference), after Roth et al. 2017.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["torsoseg", "torsoseg.*"]),
    install_requires=[
        "torch>=2.2",
        "batchgenerators>=0.25",
        "SimpleITK>=2.2",
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.2",
        "acvl-utils>=0.2.6",
        "tqdm>=4.60",
        "matplotlib>=3.6",
    ],
    extras_require={
        # DICOM-SEG output (torsoseg_predict --output-type dicom-seg); brings pydicom
        "dicom": ["highdicom>=0.22"],
        # the tests exercise DICOM-SEG too, so they install its extra
        "test": ["pytest>=7", "ruff>=0.4", "highdicom>=0.22"],
    },
    entry_points={
        "console_scripts": [
            "torsoseg_demo = torsoseg.cli.demo:main",
            "torsoseg_evaluate = torsoseg.cli.evaluate:main",
            "torsoseg_verify = torsoseg.cli.verify:main",
            "torsoseg_convert = torsoseg.cli.convert:main",
            "torsoseg_predict = torsoseg.cli.predict:main",
            "torsoseg_train = torsoseg.cli.train:main",
            "torsoseg_plan_and_preprocess = torsoseg.cli.plan_and_preprocess:main",
            "torsoseg_phantom = torsoseg.cli.phantom:main",
        ],
    },
)
