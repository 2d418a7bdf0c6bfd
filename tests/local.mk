# tests: sources and tests of this part
