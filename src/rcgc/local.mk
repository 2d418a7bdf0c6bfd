# src/rcgc: sources and tests of this part
