#!/usr/bin/perl

# Fuzzing, the short run of `make test` (`make fuzz` is the long one, see
# README "Fuzzing"): every libFuzzer target t/fuzz/fuzz_*.c replays its
# seed corpus t/fuzz/corpus/<target>/ (inputs that once crashed included),
# then makes FUZZ_RUNS (default 20000) mutations with a fixed seed; then
# the schedule importers get 150 mutated schedules (t/fuzz/import_mutate.py)
# in this file's database.  Any sanitizer report, crash, leak, [alert] or
# unclean SQLSTATE fails.  Skips when clang-16 / libFuzzer (or nginx's
# sources, fetched once with apt-get source) are not available.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $root = "$FindBin::Bin/..";
my @targets = map { m{/(fuzz_\w+)\.c$} ? $1 : () }
              sort glob "$root/t/fuzz/fuzz_*.c";

# the fuzz targets carry their own sanitizers: make test runs them once
plan(skip_all => 'the fuzz smoke run belongs to make test, not make test-sanitize')
    if $ENV{TEST_CONFHAVEN_SANITIZE};

my $build = `'$root/t/fuzz/build' 2>&1`;
my $rc = $? >> 8;

plan(skip_all => "fuzz targets not built: " . (split /\n/, $build)[-1])
    if $rc == 77;

my $t = ConfHaven::Test->new()->plan(1 + @targets + 1);

is($rc, 0, 'fuzz targets build') or diag($build);

for my $target (@targets) {
    my $out = `'$root/ci/fuzz' --smoke $target 2>&1`;
    my $st = $? >> 8;
    my ($line) = $out =~ /^(\Q$target\E\s+execs.*)$/m;
    is($st, 0, "$target: seeds and mutations run clean")
        or diag($out);
    note($line // $out);
}

SKIP: {
    skip('no PostgreSQL: the importers are not fuzzed', 1)
        unless $t->has_pg;

    my $dsn = $t->db();
    my $findings = $t->testdir . '/findings';
    my $cmd = "python3 '$root/t/fuzz/import_mutate.py' --dsn '$dsn'"
              . " --execs 150 --seed 1 --findings '$findings' 2>&1";
    my $out = `$cmd`;
    my $st = $? >> 8;
    is($st, 0, 'importers: 150 mutated schedules, each imported or '
       . 'rejected with CH400/CH422, no partial data') or diag($out);
    note($out);
}
