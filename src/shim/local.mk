# src/shim: sources and tests of this part
