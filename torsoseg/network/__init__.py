"""The 3D U-Net built from plans, its precision helpers and (PLANNING's) feature-map memory estimate.

``build_network(plans)`` is the one way to make the network; inference and training both use it.
Attributes are loaded lazily, so ``torsoseg.network.estimate`` (arithmetic only) does not import torch.
"""

__all__ = ["ConvBlock", "UNet3D", "build_network", "output_scales", "estimate_memory"]


def __getattr__(name: str):
    if name in ("ConvBlock", "UNet3D", "build_network", "output_scales"):
        from torsoseg.network import unet

        return getattr(unet, name)
    if name == "estimate_memory":
        from torsoseg.network import estimate

        return estimate.estimate_memory
    raise AttributeError(f"module 'torsoseg.network' has no attribute {name!r}")
