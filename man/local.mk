# man: sources and tests of this part
