# src/report: sources and tests of this part
