# man: pages for the shim's API and the snapshot format. The commands'
# pages are listed in the fragments of the parts that own them.
dist_man_MANS += man/tracemem.3 man/tracemem-snapshot.5 man/tracemem-stats.1

# One page per function name (man/links.sh): "man rcgc_incref" opens
# rcgc_new(3), "man tracemem_take_snapshot" tracemem(3).
EXTRA_DIST += man/links.sh
install-data-hook: install-man-links
uninstall-hook: uninstall-man-links
install-man-links uninstall-man-links:
	@pages=; for p in $(dist_man_MANS); do \
	    case $$p in *.3) pages="$$pages $(srcdir)/$$p" ;; esac; \
	done; \
	$(SHELL) $(srcdir)/man/links.sh $(@:-man-links=) '$(DESTDIR)$(man3dir)' $$pages
.PHONY: install-man-links uninstall-man-links
