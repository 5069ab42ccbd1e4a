"""The self-contained HTML fidelity report (riskkd.report) and the PSI."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

import base64
import doctest
import importlib
import math
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

import riskkd
from riskkd import DistilledClassifier
from riskkd.report import (
    Report,
    build_report,
    grade_confusion,
    population_stability_index,
    write_report,
)
from riskkd.report._plots import scatter_png

from .conftest import fast_teacher, fast_tree, make_risk_frame

PNG = b"\x89PNG\r\n\x1a\n"
PLOTS = {
    "roc_curve.png",
    "pr_curve.png",
    "reliability_teacher.png",
    "reliability_student.png",
    "score_scatter.png",
    "score_distribution.png",
}
CONFUSION = "Grade confusion, teacher against student"


class _Page(HTMLParser):
    """Images, links and section headings of a page."""

    def __init__(self):
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(attrs)
        self.urls += [v for k, v in attrs.items() if k in {"src", "href"} and v]
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _fit(n_classes: int):
    X, y = make_risk_frame(400, n_classes=n_classes, seed=0)
    X_test, y_test = make_risk_frame(300, n_classes=n_classes, seed=1)
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    return model, X, X_test, y_test


@pytest.fixture(scope="module")
def binary():
    return _fit(2)


@pytest.fixture(scope="module")
def multiclass():
    return _fit(3)


@pytest.fixture(scope="module")
def binary_page(binary, tmp_path_factory):
    """The binary report with a reference, latency and extra sections: (path, page)."""
    model, X, X_test, y_test = binary
    target = tmp_path_factory.mktemp("report") / "binary.html"
    extra = pd.DataFrame({"note": ["<b>not bold</b>"]}, index=pd.Index(["a"], name="key"))
    path = write_report(
        model,
        X_test,
        y_test,
        target,
        title="Credit <risk>",
        X_reference=X,
        sections=[("Analyst notes", extra), ("Sign-off", "<p id='signoff'>approved</p>")],
    )
    assert path == target
    return path, path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------- contents
def test_report_is_one_self_contained_file(binary_page):
    path, page = binary_page
    assert path.is_file() and path.suffix == ".html"
    assert [p.name for p in path.parent.iterdir()] == ["binary.html"]  # no temporary left
    parsed = parse(page)
    assert {img["alt"] for img in parsed.images} == PLOTS
    prefix = "data:image/png;base64,"
    for img in parsed.images:
        assert img["src"].startswith(prefix)
        assert base64.b64decode(img["src"][len(prefix) :]).startswith(PNG)
    assert all(url.startswith("data:") for url in parsed.urls)
    assert not re.search(r"https?://", page)
    assert not {"script", "link", "iframe"} & parsed.tags
    assert "<title>Credit &lt;risk&gt;</title>" in page  # the title is escaped
    assert "decision threshold 0.5" in page


def test_report_shows_the_fidelity_report(binary, binary_page):
    model, _, X_test, y_test = binary
    _, page = binary_page
    report = riskkd.fidelity_report(model, X_test, y_test)
    for metric, row in report.iterrows():
        for value in row.dropna():
            # The page prints floats with 6 significant digits.
            assert f"{value:.6g}" in page, (metric, value)
    ece_gap = report.loc["ece", "student"] - report.loc["ece", "teacher"]
    auc_retention = report.loc["auc_retention", "student"]
    highlighted = re.findall(r'<tr class="highlight"><td>(\w+)</td><td></td><td>([^<]+)<', page)
    assert highlighted == [("auc_retention", f"{auc_retention:.6g}"), ("ece_gap", f"{ece_gap:.6g}")]
    assert f'{ece_gap:.6g}</div><div class="name">ECE gap' in page
    assert f'{auc_retention:.6g}</div><div class="name">AUC retention' in page


def test_binary_sections(binary_page):
    _, page = binary_page
    headings = parse(page).headings
    assert CONFUSION not in headings  # grades only for multi-class
    assert "Scorecard points" not in headings  # the tree student has no points table
    for heading in ("Discrimination", "Calibration", "Student against teacher", "Data"):
        assert heading in headings
    assert headings.index("Analyst notes") < headings.index("Sign-off") < headings.index("Data")
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page  # DataFrame sections are escaped
    assert "<p id='signoff'>approved</p>" in page  # HTML sections are inserted as they are
    assert "predict latency, 1 row" in page and "predict latency, 1,000 rows" in page
    assert f"riskkd {riskkd.__version__}" in page
    assert "<td>student_.max_depth</td><td>4</td>" in page  # model settings


def test_reference_psi(binary):
    model, X, X_test, y_test = binary
    report = build_report(model, X_test, y_test, X_reference=X, latency=False)
    expected = population_stability_index(
        model.predict_proba(X)[:, 1], model.predict_proba(X_test)[:, 1]
    )
    assert report.psi.loc["P(1)", "reference_to_data"] == pytest.approx(expected, rel=1e-12)
    teacher_student = population_stability_index(
        model.teacher_.predict_proba(X_test)[:, 1], model.predict_proba(X_test)[:, 1]
    )
    assert report.psi.loc["P(1)", "teacher_to_student"] == pytest.approx(teacher_student)
    assert f"{expected:.6g}" in report.html
    without = build_report(model, X_test, y_test, latency=False)
    assert list(without.psi.columns) == ["teacher_to_student"]
    assert "predict latency" not in without.html  # latency=False skips the measure
    assert set(without.pngs) == PLOTS


def test_multiclass_report(multiclass, tmp_path):
    model, _, X_test, y_test = multiclass
    path = write_report(model, X_test, y_test, tmp_path / "ratings.html", latency=False)
    page = path.read_text(encoding="utf-8")
    parsed = parse(page)
    assert CONFUSION in parsed.headings
    assert {img["alt"] for img in parsed.images} == PLOTS
    assert "decisions are top classes" in page and "decision threshold" not in page
    report = riskkd.fidelity_report(model, X_test, y_test)
    assert f"{report.loc['auc_retention', 'student']:.6g}" in page
    # One PSI per grade.
    assert [f"P({c})" for c in model.classes_] == [
        label for label in ("P(A)", "P(B)", "P(C)") if label in page
    ]
    teacher = model.teacher_.predict_proba(X_test)
    student = model.predict_proba(X_test)
    counts, percent = grade_confusion(teacher, student, list(model.classes_))
    crosstab = pd.crosstab(
        model.classes_[teacher.argmax(axis=1)], model.classes_[student.argmax(axis=1)]
    )
    crosstab = crosstab.reindex(index=model.classes_, columns=model.classes_, fill_value=0)
    np.testing.assert_array_equal(counts.to_numpy(), crosstab.to_numpy())
    np.testing.assert_allclose(percent.sum(axis=1).dropna(), 100.0)
    for row in counts.itertuples(index=False):
        assert "".join(f"<td>{v}</td>" for v in row) in page


def test_y_as_one_column_dataframe(binary):
    model, _, X_test, y_test = binary
    report = build_report(model, X_test, y_test.to_frame(), latency=False)
    expected = riskkd.fidelity_report(model, X_test, y_test)
    pd.testing.assert_frame_equal(report.evaluation.report, expected)
    np.testing.assert_array_equal(report.evaluation.y, y_test.to_numpy())


def test_scatter_becomes_a_density_for_many_rows():
    rng = np.random.default_rng(0)
    p = rng.random(50_000)
    noisy = np.clip(p + rng.normal(0, 0.05, p.size), 0, 1)
    teacher, student = np.c_[1 - p, p], np.c_[1 - noisy, noisy]
    assert scatter_png(teacher, student, ["good", "bad"]).startswith(PNG)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_dollar_signs_in_labels_are_plain_text(n_classes):
    """Class labels are user data: '$' is no math-text delimiter (a label like
    'loss $\\frac{$' raised matplotlib's ParseSyntaxException)."""
    from riskkd.report import _plots

    rng = np.random.default_rng(0)
    y = np.arange(200) % n_classes
    teacher = rng.dirichlet(np.ones(n_classes), 200)
    student = rng.dirichlet(np.ones(n_classes), 200)
    labels = ["ok $", r"loss $\frac{$", "$x$"][:n_classes]
    pngs = [
        _plots.reliability_png(y, teacher, "teacher", labels),
        _plots.roc_png(y, teacher, student, labels),
        _plots.pr_png(y, teacher, student, labels),
        scatter_png(teacher, student, labels),
        _plots.score_distribution_png(teacher, student, labels, [0.1] * len(labels)),
    ]
    assert all(png.startswith(PNG) for png in pngs)


# ---------------------------------------------------------------------- PSI
def test_psi_identical_distributions_is_zero():
    scores = np.random.default_rng(0).random(1000)
    assert population_stability_index(scores, scores) == 0.0
    assert population_stability_index(scores, scores[::-1].copy(), bins=20) == 0.0
    assert population_stability_index(np.full(10, 0.3), np.full(5, 0.3)) == 0.0


def test_psi_worked_examples():
    # bins=2 cuts at the median of expected, 0.25: expected shares (0.5, 0.5), actual
    # shares (0.75, 0.25). PSI = 0.25 ln(0.75/0.5) + (-0.25) ln(0.25/0.5)
    #                         = 0.25 * 0.405465 + 0.25 * 0.693147 = 0.274653.
    expected = [0.1, 0.2, 0.3, 0.4]
    assert population_stability_index(expected, [0.1, 0.1, 0.1, 0.4], bins=2) == pytest.approx(
        0.25 * math.log(1.5) + 0.25 * math.log(2.0), abs=1e-15
    )
    # An empty bin is floored at a share of 1e-4: actual shares (1, 1e-4) against (0.5, 0.5),
    # PSI = 0.5 ln(2) + (1e-4 - 0.5) ln(1e-4 / 0.5) = 0.346574 + 4.257745 = 4.604319.
    assert population_stability_index(expected, [0.1, 0.1, 0.2, 0.2], bins=2) == pytest.approx(
        4.604319, abs=1e-6
    )


def test_psi_matches_decile_binning_with_pandas():
    rng = np.random.default_rng(1)
    expected, actual = rng.normal(0, 1, 20_000), rng.normal(0.3, 1.2, 5_000)
    edges = np.quantile(expected, np.linspace(0, 1, 11))
    edges[0], edges[-1] = -np.inf, np.inf
    e = pd.Series(pd.cut(expected, edges, right=False)).value_counts(normalize=True, sort=False)
    a = pd.Series(pd.cut(actual, edges, right=False)).value_counts(normalize=True, sort=False)
    reference = float(np.sum((a.to_numpy() - e.to_numpy()) * np.log(a.to_numpy() / e.to_numpy())))
    # Same bins and shares (no bin is empty, so no floor): equal up to rounding.
    assert population_stability_index(expected, actual) == pytest.approx(reference, rel=1e-12)
    assert population_stability_index(expected, actual) > 0.1  # a real shift is visible


@pytest.mark.parametrize(
    ("expected", "actual", "bins", "match"),
    [
        ([0.1, 0.2], [0.1], 0, "bins must be an integer >= 1; got 0"),
        ([0.1, 0.2], [0.1], 2.5, "bins must be an integer >= 1; got 2.5"),
        ([[0.1, 0.2]], [0.1], 10, r"expected must be one-dimensional.*shape \(1, 2\)"),
        ([], [0.1], 10, "expected is empty"),
        ([0.1, 0.2], [0.1, np.nan], 10, "actual holds 1 NaN or infinite scores"),
    ],
)
def test_psi_bad_input(expected, actual, bins, match):
    with pytest.raises(ValueError, match=match):
        population_stability_index(expected, actual, bins=bins)


# ---------------------------------------------------------------------- errors
def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*"))


def test_unfitted_model(binary, tmp_path):
    _, _, X_test, y_test = binary
    with pytest.raises(NotFittedError, match="DistilledClassifier instance is not fitted"):
        write_report(DistilledClassifier(), X_test, y_test, tmp_path / "r.html")
    assert _only(tmp_path) == []


@pytest.mark.parametrize("name", ["report.pdf", "report", "report.html.txt"])
def test_wrong_extension(binary, tmp_path, name):
    model, _, X_test, y_test = binary
    with pytest.raises(
        ValueError, match=f"must name an HTML file ending in '.html'; got '.*{name}'"
    ):
        write_report(model, X_test, y_test, tmp_path / name)
    assert _only(tmp_path) == []


def test_mismatched_lengths(binary, tmp_path):
    model, _, X_test, y_test = binary
    with pytest.raises(ValueError, match="X has 300 rows but y has 299 labels"):
        write_report(model, X_test, y_test[:-1], tmp_path / "r.html")
    assert _only(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"threshold": 1.5},
            ValueError,
            r"threshold must be in the open interval \(0, 1\); got 1.5",
        ),
        ({"sections": [("only a heading",)]}, TypeError, r"sections\[0\] must be a \(heading"),
        ({"sections": [("t", 3)]}, TypeError, r"sections\[0\] .* got \('t', 3\)"),
        ({"title": 3}, TypeError, "title must be a str or None; got int"),
    ],
)
def test_bad_options(binary, tmp_path, kwargs, error, match):
    model, _, X_test, y_test = binary
    with pytest.raises(error, match=match):
        write_report(model, X_test, y_test, tmp_path / "r.html", **kwargs)
    assert _only(tmp_path) == []


def test_empty_reference_is_refused(binary, tmp_path):
    """The error names X_reference (it named the PSI's internal argument 'expected')."""
    model, X, X_test, y_test = binary
    with pytest.raises(ValueError, match=r"X_reference has 0 rows; .* or pass None"):
        write_report(model, X_test, y_test, tmp_path / "r.html", X_reference=X.iloc[:0])
    assert _only(tmp_path) == []


def test_single_class_is_refused(binary, tmp_path):
    """Rows of one class: no page (it used to be written with a blank AUC retention)."""
    model, _, X_test, y_test = binary
    only = (y_test == 0).to_numpy()
    with pytest.raises(ValueError, match=r"y holds one class \(0\); .* at least two"):
        write_report(model, X_test[only], y_test[only], tmp_path / "r.html", latency=False)
    assert _only(tmp_path) == []


def test_error_midway_leaves_nothing(binary, tmp_path):
    """A failure after the checks (here: the reference lacks a column) writes no file and
    creates no folder, and an existing report is left as it was."""
    model, X, X_test, y_test = binary
    with pytest.raises(ValueError, match=r"X_reference does not match.*'income'"):
        write_report(
            model, X_test, y_test, tmp_path / "new" / "r.html", X_reference=X.drop(columns="income")
        )
    assert _only(tmp_path) == []
    old = tmp_path / "old.html"
    old.write_text("previous report")
    with pytest.raises(ValueError, match="income"):
        write_report(model, X_test, y_test, old, X_reference=X.drop(columns="income"))
    assert old.read_text() == "previous report"
    assert _only(tmp_path) == ["old.html"]


def test_failed_write_leaves_nothing(binary, tmp_path):
    """An error while writing (a lone surrogate cannot be encoded as UTF-8) removes the
    temporary file and the folders created for the report."""
    model, _, X_test, y_test = binary
    rendered = build_report(model, X_test, y_test, latency=False)
    broken = Report(rendered.evaluation, rendered.pngs, rendered.psi, rendered.html + "\ud800")
    with pytest.raises(UnicodeEncodeError):
        broken.write(tmp_path / "a" / "b" / "r.html")
    assert _only(tmp_path) == []
    assert rendered.write(tmp_path / "a" / "b" / "r.html").read_text(encoding="utf-8") == (
        rendered.html
    )


def test_missing_matplotlib(binary, tmp_path, monkeypatch):
    model, _, X_test, y_test = binary
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import` sees when absent
    with pytest.raises(ImportError, match=r'pip install "riskkd\[report\]"'):
        write_report(model, X_test, y_test, tmp_path / "r.html")
    assert _only(tmp_path) == []


@pytest.mark.parametrize("module", ["riskkd.report", "riskkd.report._metrics"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------------- scorecard
def test_scorecard_points_table(tmp_path):
    scorecard = pytest.importorskip("riskkd.scorecard")
    from riskkd.students import ScorecardStudent

    X, y = make_risk_frame(400, seed=0)
    model = DistilledClassifier(fast_teacher(), ScorecardStudent(), cv=2, random_state=0).fit(X, y)
    page = build_report(model, X, y, latency=False).html
    assert "Scorecard points" in parse(page).headings
    points = pd.DataFrame(scorecard.points_table(model))
    assert all(f"<th>{column}</th>" in page for column in points.columns)
    # Bounds are shown exactly (repr round-trips), not to 6 digits: a value a 6-digit
    # bound would put in the bin can belong to the next one.
    bounds = points["upper"][np.isfinite(points["upper"])]
    assert len(bounds) and all(f"<td>{bound!r}</td>" in page for bound in bounds)
