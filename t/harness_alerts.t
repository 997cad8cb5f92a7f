#!/usr/bin/perl
# t/harness_alerts.t — the harness's final "no alerts" test catches what it
# must: an alert in a second nginx of the file, any sanitizer report, and a
# file that starts nginx without ever getting that test. Each case is a
# small test file run in a child perl (plain nginx configs, no module) whose
# exit status and TAP output are checked.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use ConfHaven::Test;

my $t = ConfHaven::Test->new()->plan(19);
my $lib = "$FindBin::Bin/lib";

my $CONF = <<'EOF';
server {
    listen 127.0.0.1:%%PORT_1%%;
    location / { return 200 "ok\n"; }
}
EOF

# child(NAME, CODE): run CODE as a test file; returns (exit code, output)
sub child {
    my ($name, $code) = @_;
    my $f = $t->write_file("$name.t", <<"EOF" . $code);
use strict;
use warnings;
use Test::More;
use lib '$lib';
use ConfHaven::Test;
my \$CONF = <<'CONF';
${CONF}CONF
EOF
    # the deliberate reports below must not reach make test-sanitize's list
    local $ENV{TEST_CONFHAVEN_REPORTS};
    delete $ENV{TEST_CONFHAVEN_REPORTS};
    local $ENV{TEST_CONFHAVEN_LEAVE};
    delete $ENV{TEST_CONFHAVEN_LEAVE};
    my ($rc, $out, $err) = $t->_cmd(undef, $^X, $f);
    return ($rc, $out . $err);
}

# ---- nginx runs with the sanitizer options; the report dir is writable.
# nginx overwrites its /proc/PID/environ with the process titles, so a
# wrapper in front of the binary writes down the environment it gets.
my $real = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $dump = $t->testdir . '/env.dump';
my $wrapper = $t->write_file('nginx-wrapper', <<"EOF", 0755);
#!/bin/sh
env -0 > '$dump'
exec '$real' "\$@"
EOF
$t->worker_processes(1)->write_conf($CONF);
{
    local $t->{_nginx} = $wrapper;
    $t->run();
}
my %env = map { /^([^=]+)=(.*)$/s ? ($1, $2) : () }
    split /\0/, $t->read_file($dump) // '';
my $dir = $t->testdir . '/sanitizer';
like($env{ASAN_OPTIONS} // '', qr/(?:^|:)log_path=\Q$dir\E\/asan(?::|$)/,
     'nginx gets ASAN_OPTIONS with log_path in the test directory');
like($env{UBSAN_OPTIONS} // '', qr/(?:^|:)log_path=\Q$dir\E\/ubsan(?::|$)/,
     'nginx gets UBSAN_OPTIONS with log_path in the test directory');
is((stat $dir)[2] & 07777, 01777, 'report directory is mode 1777 (workers run as nobody)');
is($t->http('GET', '/')->{body}, "ok\n", 'nginx answers');

# ---- plain Test::More plan: nginx ran, the file never got "no alerts"
my ($rc, $out) = child('noplan', <<'EOF');
my $t = ConfHaven::Test->new()->worker_processes(1);
plan(tests => 1);
$t->write_conf($CONF);
$t->run();
pass('nginx ran');
EOF
isnt($rc, 0, 'file without $t->plan/done_testing that ran nginx: fails');
like($out, qr/^not ok 2 - no alerts check missing/m,
     'file without the check: "no alerts check missing"');

# ---- the same file that never started nginx passes
($rc, $out) = child('norun', <<'EOF');
my $t = ConfHaven::Test->new();
plan(tests => 1);
pass('no nginx');
EOF
is($rc, 0, 'file that never started nginx needs no check') or diag($out);

# ---- an [emerg] in the error.log of a second nginx (no plan of its own)
($rc, $out) = child('second', <<'EOF');
my $t = ConfHaven::Test->new()->worker_processes(1)->plan(1);
my $t2 = ConfHaven::Test->new()->worker_processes(1);
$t->write_conf($CONF);
$t->run();
$t2->write_conf($CONF);
$t2->run();
$t2->write_conf("no_such_directive on;\n" . $CONF);
$t2->reload();
pass('both ran');
EOF
isnt($rc, 0, 'alert in a second instance: file fails');
like($out, qr/^not ok 2 - no alerts$/m, 'second instance: "no alerts" fails');
like($out, qr/\[emerg\].*no_such_directive/, 'second instance: the alert is shown');

# ---- both clean: passes
($rc, $out) = child('second_ok', <<'EOF');
my $t = ConfHaven::Test->new()->worker_processes(1)->plan(1);
my $t2 = ConfHaven::Test->new()->worker_processes(1);
$t->write_conf($CONF);
$t->run();
$t2->write_conf($CONF);
$t2->run();
pass('both ran');
EOF
is($rc, 0, 'two clean instances: file passes') or diag($out);
like($out, qr/^ok 2 - no alerts$/m, 'two clean instances: "no alerts" passes');

# ---- a client's text quoted in an nginx log line is no report
($rc, $out) = child('quoted', <<'EOF');
my $t = ConfHaven::Test->new()->worker_processes(1)->plan(1);
$t->write_conf($CONF);
$t->run();
open my $fh, '>>', $t->testdir . '/error.log' or die;
print $fh "2026/01/01 00:00:00 [info] 1#1: *1 client sent \"==1==ERROR: "
    . "AddressSanitizer: x.c:1:2: runtime error: \"\n";
close $fh;
pass('ran');
EOF
is($rc, 0, 'sanitizer text quoted in an nginx log line: no report') or diag($out);

# ---- sanitizer reports: a program built with ASan+UBSan run with the
# harness's environment, as nginx is (a real report, not a fake file)
SKIP: {
    my $c = $t->write_file('bad.c', <<'EOF');
#include <stdlib.h>
#include <string.h>
int
main(int argc, char **argv)
{
    int   n = argc + 0x7ffffffe;      /* argc is 1: INT_MAX */
    char *p = malloc(8);
    (void) argv;
    n += argc;                        /* signed overflow: UBSan, goes on */
    memset(p, 0, 8 + (n != 0));       /* 1 byte past the end: ASan */
    free(p);
    return 0;
}
EOF
    my $bin = $t->testdir . '/bad';
    my ($crc, undef, $cerr) = $t->_cmd(undef, 'gcc', '-g', '-O0',
        '-fsanitize=address,undefined', '-o', $bin, $c);
    skip("gcc cannot build with -fsanitize=address,undefined: $cerr", 6)
        if $crc;

    ($rc, $out) = child('sanitizer', <<"EOF");
my \$t = ConfHaven::Test->new()->worker_processes(1)->plan(1);
\$t->write_conf(\$CONF);
\$t->run();
{
    my %e = \$t->sanitizer_env;
    local \@ENV{keys %e} = values %e;
    system('$bin');
}
pass('nginx ran, a sanitized program failed');
EOF
    isnt($rc, 0, 'sanitizer report: file fails');
    like($out, qr/^not ok 2 - no alerts$/m, 'sanitizer report: "no alerts" fails');
    like($out, qr/AddressSanitizer: heap-buffer-overflow/,
         'ASan report shown');
    like($out, qr/bad\.c:\d+:\d+: runtime error: signed integer overflow/,
         'UBSan report shown');
    like($out, qr/sanitizer report \S+\/sanitizer\/(?:a|ub)san\.\d+/,
         'report files named');

    # error.log lines count too (a sanitizer writing to stderr)
    ($rc, $out) = child('sanitizer_log', <<'EOF');
my $t = ConfHaven::Test->new()->worker_processes(1)->plan(1);
$t->write_conf($CONF);
$t->run();
open my $fh, '>>', $t->testdir . '/error.log' or die;
print $fh "x.c:1:2: runtime error: load of null pointer\n";
close $fh;
pass('ran');
EOF
    ok($out =~ /^not ok 2 - no alerts$/m
       && $out =~ /^#\s*error\.log: x\.c:1:2: runtime error/m,
       'a "runtime error:" line in error.log fails "no alerts"') or diag($out);
}
