# ConferenceHaven — every target is a thin wrapper around a script in ci/.
#   make            build .build/ngx_http_confhaven_module.so   (ci/build)
#   make run        local stack on http://127.0.0.1:8000         (ci/run)
#   make test       full test suite, V=1 for verbose              (ci/test)
#   make test-sanitize  the same suite on nginx + module built with
#                   AddressSanitizer and UBSan; any report fails (ci/test --sanitize)
#                   (.build/sanitize/, state in .run/test-sanitize/)
#   make import FILE=path SLUG=slug NAME="..." TIMEZONE=Area/City [LOCATION=.. WEBSITE=..]
#   make bench      load test                                     (ci/bench)
#                   CONFHAVEN_BENCH_SCALE=1 make bench also runs bench-scale at the end
#   make bench-scale  search at 1,000,000 sessions: plans + load   (ci/bench-scale)
#                   (the dataset is built once, minutes, and cached in .run/bench-scale/)
#   make search-eval  search quality: nDCG@10 / MRR / recall@10   (ci/search-eval)
#   make fuzz       libFuzzer targets + importer mutations         (ci/fuzz)
#                   FUZZ_TIME=600 seconds per target, or FUZZ_RUNS=N;
#                   make fuzz FUZZ_TARGETS="fuzz_mcp_http sql_import"
#   make deps       install the Debian packages                   (ci/deps)
#   make clean      remove build output and test state
#   make distclean  also stop and remove the make-run state in .run/ (database, admin key)
# Variables given on the make command line reach the scripts through the environment.

SHELL := /bin/bash

.PHONY: all build run test test-sanitize import bench bench-scale search-eval deps clean distclean fuzz

all: build

build:
	ci/build

run:
	ci/run

test:
	ci/test

test-sanitize:
	ci/test --sanitize

import:
	ci/import

bench:
	ci/bench

bench-scale:
	ci/bench-scale

search-eval:
	ci/search-eval

deps:
	ci/deps

fuzz:
	ci/fuzz $(FUZZ_TARGETS)
	@if [ -z "$(FUZZ_TARGETS)" ]; then ci/fuzz sql_import; fi

clean:
	-ci/redis stop .run/test/redis 2>/dev/null
	-ci/pg stop .run/test/pg 2>/dev/null
	-ci/redis stop .run/test-sanitize/redis 2>/dev/null
	-ci/pg stop .run/test-sanitize/pg 2>/dev/null
	rm -rf .build .run/test .run/test-sanitize

distclean: clean
	-ci/redis stop 2>/dev/null
	-ci/pg stop 2>/dev/null
	rm -rf .run
