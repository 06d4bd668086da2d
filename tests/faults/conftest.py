"""The fault-injection suite's figures, printed in pytest's terminal summary (also without -s)."""
import pytest

FIGURES: list[str] = []


@pytest.fixture
def report_figures():
    """Call with a line to print in the summary at the end of the run."""
    def report(line: str) -> None:
        print(line)
        FIGURES.append(line)
    return report


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("fault injection figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
