"""Moved to :mod:`torsoseg.plans` (the base of the package); this name stays for older imports."""

from torsoseg.plans import (
    DEFAULT_CONFIGURATION,
    DEFAULT_PLANS_NAME,
    PLANS_FORMAT_VERSION,
    CTNormalization,
    Plans,
    StageConfiguration,
)

__all__ = ["CTNormalization", "DEFAULT_CONFIGURATION", "DEFAULT_PLANS_NAME", "PLANS_FORMAT_VERSION", "Plans",
           "StageConfiguration"]
