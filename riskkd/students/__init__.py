"""Students: compact models trained on the teacher's calibrated soft targets."""

from ._base import Student
from ._mlp import MLPStudent
from ._tree import TreeStudent

__all__ = ["MLPStudent", "Student", "TreeStudent"]
