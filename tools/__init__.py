"""Repository tools (not part of the installed package): data generators, asset builders, the release build."""
