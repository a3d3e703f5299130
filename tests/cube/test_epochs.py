from datetime import date

import pytest

from cube.epochs import Epoch, parse_epoch, parse_epochs
from cube.errors import InvalidInputError


@pytest.mark.parametrize(
    ("spec", "name", "start", "end"),
    [
        ("2023H1", "2023H1", date(2023, 1, 1), date(2023, 6, 30)),
        ("2023h2", "2023H2", date(2023, 7, 1), date(2023, 12, 31)),
        ("2024Q1", "2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
        ("2024Q4", "2024Q4", date(2024, 10, 1), date(2024, 12, 31)),
        ("2024", "2024", date(2024, 1, 1), date(2024, 12, 31)),
        ("2024-01-15/2024-06-30", "20240115_20240630", date(2024, 1, 15), date(2024, 6, 30)),
    ],
)
def test_parse_epoch_forms(spec, name, start, end):
    epoch = parse_epoch(spec)
    assert epoch == Epoch(name, start, end)


def test_leap_quarter_and_length():
    assert parse_epoch("2024Q1").days == 91
    assert parse_epoch("2023Q1").days == 90


def test_parse_epochs_in_order():
    epochs = parse_epochs("2023H1, 2023H2,2024Q1")
    assert [e.name for e in epochs] == ["2023H1", "2023H2", "2024Q1"]
    assert parse_epochs(["2024-01-01/2024-02-01", "2024Q2"])[1].start == date(2024, 4, 1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no epochs"),
        ("2023H3", "H1 to H2"),
        ("2023Q0", "Q1 to Q4"),
        ("2023X1", "is not YYYY"),
        ("2024-02-30/2024-03-01", "not an ISO date"),
        ("2024-06-01/2024-01-01", "before start"),
        ("2024-01-01/2024-02-01/2024-03-01", "START/END"),
        ("2023H2,2023H1", "time order"),
        ("2023,2023H2", "without overlap"),
        ("2023H1,2023H1", "repeat"),
    ],
)
def test_bad_epochs_name_the_problem(spec, message):
    with pytest.raises(InvalidInputError, match=message):
        parse_epochs(spec)


def test_epoch_name_is_validated():
    with pytest.raises(InvalidInputError, match="letters, digits"):
        Epoch("a/b", date(2024, 1, 1), date(2024, 2, 1))
