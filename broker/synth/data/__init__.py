"""Public lookup files shipped with the generator (a package so that setuptools installs its CSVs)."""
