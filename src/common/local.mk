# src/common: sources and tests of this part
