"""torsoseg: a self-configuring 3D U-Net toolkit for multi-organ torso CT segmentation.

The pipeline (each stage a subpackage, each a CLI): ``dataset_conversion`` -> ``planning`` ->
``preprocessing`` -> ``training`` -> ``inference`` -> ``evaluation``. See documentation/ for the guide.
"""

__version__ = "0.1.0"
