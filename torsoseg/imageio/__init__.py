"""Reading and writing volumes, and the one geometry convention of torsoseg.

Axis order (stated here once, used everywhere): a :class:`Volume` array is indexed ``array[i, j, k]``
in ITK *index* order, i.e. the array shape is ``(size_x, size_y, size_z)`` of the ITK image and
``spacing[a]``, ``direction[:, a]`` belong to array axis ``a``. This is the transpose of what
``SimpleITK.GetArrayFromImage`` returns; the transpose happens only in :func:`from_sitk` /
:func:`to_sitk`.

World coordinates are ITK's LPS (x grows to the patient's Left, y to Posterior, z to Superior).
``direction`` is a 3x3 matrix whose column ``a`` is the world direction of array axis ``a``.

The *canonical orientation* is "LPS" in ITK's naming: after :func:`reorient_to_canonical`, array axis 0
points to the patient's left, axis 1 to posterior, axis 2 to superior (up to any oblique residue, which is
kept in ``direction``). So the left-right axis is axis 0 everywhere downstream, and a larger index on
axis 0 is further to the patient's left.

The package's modules: :mod:`.volume` (:class:`Volume`, :class:`Geometry`), :mod:`.files` (reading and
writing files), :mod:`.dicom` (DICOM series), :mod:`.orientation` (canonical orientation, resampling onto
another grid). Import from ``torsoseg.imageio``.
"""

from torsoseg.imageio.dicom import is_dicom_dir, list_dicom_series
from torsoseg.imageio.files import (
    IMAGE_SUFFIXES,
    from_sitk,
    has_image_suffix,
    list_images,
    read_geometry,
    read_image,
    strip_suffix,
    to_sitk,
    write_image,
)
from torsoseg.imageio.orientation import (
    Reorientation,
    canonical_transform,
    reorient_to_canonical,
    resample_to_grid,
    restore_orientation,
)
from torsoseg.imageio.volume import Geometry, Volume, integer_labels, orientation_code, spacing_str

__all__ = [
    "IMAGE_SUFFIXES",
    "Geometry",
    "Reorientation",
    "Volume",
    "canonical_transform",
    "from_sitk",
    "has_image_suffix",
    "integer_labels",
    "is_dicom_dir",
    "list_dicom_series",
    "list_images",
    "orientation_code",
    "read_geometry",
    "read_image",
    "reorient_to_canonical",
    "resample_to_grid",
    "restore_orientation",
    "spacing_str",
    "strip_suffix",
    "to_sitk",
    "write_image",
]
