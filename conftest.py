"""Settings shared by the unit tests and nbval.

Notebook kernels started by nbval inherit this process's environment, so the
variables set here reach every executed notebook too.
"""

import os

# No progress bars in executed notebooks: their carriage-return output would
# be compared by nbval and would clutter the stored outputs.
os.environ.setdefault("KD_LIB_PROGRESS", "0")
# (MPLBACKEND is deliberately left alone: ipykernel only picks its inline
# backend when that variable is unset.)


def pytest_terminal_summary(terminalreporter):
    """Print each notebook's total execution time, so every
    CI log is a benchmark."""
    per_notebook = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid = getattr(report, "nodeid", "")
            if (
                ".ipynb::" in nodeid
                and getattr(report, "when", "") == "call"
            ):
                name = nodeid.split("::")[0]
                per_notebook[name] = (
                    per_notebook.get(name, 0.0) + report.duration
                )
    if per_notebook:
        terminalreporter.section("notebook execution times")
        for name, seconds in sorted(per_notebook.items()):
            terminalreporter.write_line(f"{seconds:7.1f} s  {name}")
        terminalreporter.write_line(
            f"{sum(per_notebook.values()):7.1f} s  all notebooks"
        )
