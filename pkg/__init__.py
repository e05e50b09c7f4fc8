"""Packaging: the runtime dependency set per target (deps.py) and the Debian package
(build_deb.py, `./run deb`)."""
