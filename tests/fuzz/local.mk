# tests/fuzz: libFuzzer targets for the readers of untrusted input: the
# snapshot loader (and what the commands do with a snapshot that loads),
# the suppressions reader and the baseline reader (fuzz_readers.c).
#
# Not part of make check. "make fuzz" builds the four targets with clang
# (-fsanitize=fuzzer,address,undefined; Debian: clang libclang-rt-14-dev)
# and runs each for FUZZ_SECONDS (default 60) on a corpus seeded from
# tests/data, failing on the first crash, sanitizer report, leak or
# timeout. Crashing inputs are kept as tests/fuzz/crash-TARGET-*; the
# corpus grows in tests/fuzz/corpus/TARGET of the build tree.
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_MAX_LEN = 65536
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CPPFLAGS = -I$(top_builddir) -I$(top_srcdir)/include -I$(top_srcdir)/src \
	$(JANSSON_CFLAGS) $(LIBDW_CFLAGS) $(ZLIB_CFLAGS) \
	-DTM_TEST_DATA=\"$(abs_top_srcdir)/tests/data\"
FUZZ_LIBS = $(JANSSON_LIBS) $(LIBDW_LIBS) $(ZLIB_LIBS) -lm -ldl
FUZZ_TARGETS = snapshot gzsnapshot suppressions baseline
FUZZ_SEEDS_snapshot = cli-a.json cli-b.json leaks.json cli-gc-a.json \
	trend-1.json bad-index-frame.json bad-inlined.json report-timeline.json
# gzsnapshot: the snapshot seeds, gzip'd (whole and cut short)
FUZZ_SEEDS_suppressions = leaks.lsan.supp leaks.valgrind.supp \
	golden/leaks-gen.supp
FUZZ_SEEDS_baseline = leaks-base.json
EXTRA_DIST += tests/fuzz/fuzz_readers.c tests/fuzz/json.dict \
	tests/fuzz/suppressions.dict

fuzz-build:
	@command -v $(FUZZ_CC) > /dev/null || \
	  { echo "make fuzz: no $(FUZZ_CC) (Debian: clang libclang-rt-14-dev)" >&2; exit 1; }
	@$(MKDIR_P) tests/fuzz/obj
	@set -e; objs=; \
	for src in $(filter %.c,$(libtmreport_la_SOURCES)); do \
	  obj=tests/fuzz/obj/`basename $$src .c`.o; \
	  echo "  FUZZCC   $$obj"; \
	  $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CPPFLAGS) \
	    -c -o $$obj $(srcdir)/$$src; \
	  objs="$$objs $$obj"; \
	done; \
	for t in $(FUZZ_TARGETS); do \
	  echo "  FUZZLD   tests/fuzz/fuzz_$$t"; \
	  $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_CPPFLAGS) \
	    -DFUZZ_`echo $$t | tr a-z A-Z` -o tests/fuzz/fuzz_$$t \
	    $(srcdir)/tests/fuzz/fuzz_readers.c $$objs $(FUZZ_LIBS); \
	done

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  corpus=tests/fuzz/corpus/$$t; $(MKDIR_P) $$corpus; \
	  case $$t in \
	  snapshot) seeds="$(FUZZ_SEEDS_snapshot)"; dict=json.dict ;; \
	  suppressions) seeds="$(FUZZ_SEEDS_suppressions)"; dict=suppressions.dict ;; \
	  baseline) seeds="$(FUZZ_SEEDS_baseline)"; dict=json.dict ;; \
	  gzsnapshot) seeds=; dict=json.dict; \
	    for s in $(FUZZ_SEEDS_snapshot); do \
	      gzip -c $(srcdir)/tests/data/$$s > $$corpus/seed-$$s.gz; \
	      head -c 200 $$corpus/seed-$$s.gz > $$corpus/seed-$$s.cut.gz; \
	    done ;; \
	  esac; \
	  for s in $$seeds; do \
	    cp $(srcdir)/tests/data/$$s $$corpus/seed-`echo $$s | tr / -`; \
	    chmod u+w $$corpus/seed-`echo $$s | tr / -`; \
	  done; \
	  echo "  FUZZ     $$t for $(FUZZ_SECONDS) s (log: tests/fuzz/fuzz_$$t.log)"; \
	  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	       tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
	         -rss_limit_mb=2048 -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 \
	         -dict=$(srcdir)/tests/fuzz/$$dict \
	         -artifact_prefix=tests/fuzz/crash-$$t- $$corpus \
	         > tests/fuzz/fuzz_$$t.log 2>&1; then \
	    tail -n 60 tests/fuzz/fuzz_$$t.log; \
	    echo "make fuzz: $$t failed; the input is tests/fuzz/crash-$$t-*" >&2; \
	    exit 1; \
	  fi; \
	  grep -E '^stat::number_of_executed_units|^Done' tests/fuzz/fuzz_$$t.log || true; \
	done

clean-local: clean-fuzz
clean-fuzz:
	-rm -rf tests/fuzz/obj tests/fuzz/corpus tests/fuzz/fuzz_snapshot tests/fuzz/fuzz_gzsnapshot \
	  tests/fuzz/fuzz_suppressions tests/fuzz/fuzz_baseline tests/fuzz/*.log

.PHONY: fuzz fuzz-build clean-fuzz
