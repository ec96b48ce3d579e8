"""Reports: JUnit XML (and later HTML/JSON) written from run results."""
