# man: pages for the shim's API and the snapshot format. The commands'
# pages are listed in the fragments of the parts that own them.
dist_man_MANS += man/tracemem.3 man/tracemem-snapshot.5
