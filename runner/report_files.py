"""The files `run` and `report` write at the top of an output folder, which no output
may be named. Generated from report.formats.WRITERS by `make schemas`.
"""

REPORT_FILES = ("report.html", "results.json", "results.csv", "junit.xml", "backdrop.lock")
