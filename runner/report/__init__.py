"""Reports of an output folder: report.html, results.json, results.csv, junit.xml, backdrop.lock."""
