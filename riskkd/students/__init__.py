"""Students: compact models trained on the teacher's calibrated soft targets."""

from ._base import Student
from ._mlp import MLPStudent
from ._scorecard import ScorecardStudent
from ._tree import TreeStudent

__all__ = ["STUDENTS", "MLPStudent", "ScorecardStudent", "Student", "TreeStudent"]

#: Students reachable by name, as in ``DistilledClassifier(student="tree")``. A saved model
#: names its student's class, which must be one of these.
STUDENTS: dict[str, type[Student]] = {
    "mlp": MLPStudent,
    "tree": TreeStudent,
    "scorecard": ScorecardStudent,
}
