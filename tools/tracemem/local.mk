# tools/tracemem: sources and tests of this part
