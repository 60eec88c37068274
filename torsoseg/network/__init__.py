"""The 3D U-Net built from plans, its precision helpers and (PLANNING's) feature-map memory estimate.

``build_network(plans)`` is the one way to make the network; inference and training both use it.
"""

from torsoseg.network.unet import ConvBlock, UNet3D, build_network, output_scales

__all__ = ["ConvBlock", "UNet3D", "build_network", "output_scales", "estimate_memory"]


def __getattr__(name: str):  # lazy: estimate.py belongs to PLANNING and may not exist yet
    if name == "estimate_memory":
        from torsoseg.network import estimate

        return estimate.estimate_memory
    raise AttributeError(f"module 'torsoseg.network' has no attribute {name!r}")
