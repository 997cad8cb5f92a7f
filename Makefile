# ConferenceHaven — every target is a thin wrapper around a script in ci/.
#   make            build .build/ngx_http_confhaven_module.so   (ci/build)
#   make run        local stack on http://127.0.0.1:8000         (ci/run)
#   make test       full test suite, V=1 for verbose              (ci/test)
#   make import FILE=path SLUG=slug NAME="..." TIMEZONE=Area/City [LOCATION=.. WEBSITE=..]
#   make bench      load test                                     (ci/bench)
#   make search-eval  search quality: nDCG@10 / MRR / recall@10   (ci/search-eval)
#   make deps       install the Debian packages                   (ci/deps)
#   make clean      remove build output and test state
#   make distclean  also stop and remove the make-run state in .run/ (database, admin key)
# Variables given on the make command line reach the scripts through the environment.

SHELL := /bin/bash

.PHONY: all build run test import bench search-eval deps clean distclean

all: build

build:
	ci/build

run:
	ci/run

test:
	ci/test

import:
	ci/import

bench:
	ci/bench

search-eval:
	ci/search-eval

deps:
	ci/deps

clean:
	-ci/redis stop .run/test/redis 2>/dev/null
	-ci/pg stop .run/test/pg 2>/dev/null
	rm -rf .build .run/test

distclean: clean
	-ci/redis stop 2>/dev/null
	-ci/pg stop 2>/dev/null
	rm -rf .run
