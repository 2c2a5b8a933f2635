"""Signed update repository tooling (tufup/TUF): see updates/README.md."""
